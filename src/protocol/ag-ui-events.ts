// AG-UI (docs/protocol.md section 12, package `@ag-ui/core` 1.x): the `RunAgentInput` that `HttpAgent`
// posts, as far as agentwire reads it, and the events the server answers with. The package is only a
// test dependency: its shapes are declared here, and the tests check them against its own schemas.

import { Type, type Static } from "@sinclair/typebox";

/** A CUSTOM event: a tool call waits for approval (`POST /threads/:id/approve` or `/reject`). */
export const AG_UI_APPROVAL_REQUESTED = "agentwire.approval_requested";
/** A CUSTOM event: the sources a tool returned (section 6.2), which AG-UI has no event for. */
export const AG_UI_SOURCES = "agentwire.sources";

const AgUiMessage = Type.Object(
  {
    id: Type.String(),
    role: Type.String({ minLength: 1 }),
    /** Text, or a list of parts of which the `text` ones are read. */
    content: Type.Optional(Type.Unknown()),
  },
  { additionalProperties: true },
);

/** The most front-end tools one run may declare, and the longest JSON text of one's parameters schema. */
export const AG_UI_MAX_TOOLS = 32;
export const AG_UI_MAX_TOOL_SCHEMA_CHARS = 16_000;

/** A front-end tool: its name as model APIs accept it, a description and the JSON schema of its arguments. */
const AgUiTool = Type.Object(
  {
    name: Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" }),
    description: Type.Optional(Type.String({ maxLength: 4000 })),
    parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: true },
);

/** What agentwire reads of a `RunAgentInput`; its other fields are accepted and ignored. */
export const AgUiRunInput = Type.Object(
  {
    /** The agentwire thread; an unknown id creates the caller's thread. */
    threadId: Type.String({ pattern: "^[A-Za-z0-9_:.@-]{1,121}$" }),
    runId: Type.String(),
    messages: Type.Array(AgUiMessage, { minItems: 1 }),
    /** Front-end tools: offered to the model beside the server's; a call of one ends the run without being executed. */
    tools: Type.Array(AgUiTool, { maxItems: AG_UI_MAX_TOOLS }),
    context: Type.Array(Type.Unknown()),
    state: Type.Optional(Type.Unknown()),
    /** agentwire reads `use_reasoning` (a boolean, default true) from here. */
    forwardedProps: Type.Optional(Type.Union([Type.Object({ use_reasoning: Type.Optional(Type.Boolean()) }, { additionalProperties: true }), Type.Null()])),
    protocolVersion: Type.Optional(Type.String()),
    parentRunId: Type.Optional(Type.String()),
    resume: Type.Optional(Type.Array(Type.Unknown())),
  },
  { additionalProperties: true },
);
export type AgUiRunInput = Static<typeof AgUiRunInput>;

/** The token counts of a finished run, in AG-UI's names. */
export interface AgUiTokenUsage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
}

/** The AG-UI events agentwire sends (a subset of `@ag-ui/core`'s `Event`). */
export type AgUiEvent =
  | { type: "RUN_STARTED"; threadId: string; runId: string }
  | { type: "RUN_FINISHED"; threadId: string; runId: string; outcome: { type: "success" } | { type: "cancelled" }; usage?: AgUiTokenUsage[] }
  | { type: "RUN_ERROR"; message: string; code: string }
  | { type: "TEXT_MESSAGE_START"; messageId: string; role: "assistant" }
  | { type: "TEXT_MESSAGE_CONTENT"; messageId: string; delta: string }
  | { type: "TEXT_MESSAGE_END"; messageId: string }
  | { type: "REASONING_START"; messageId: string }
  | { type: "REASONING_MESSAGE_START"; messageId: string; role: "reasoning" }
  | { type: "REASONING_MESSAGE_CONTENT"; messageId: string; delta: string }
  | { type: "REASONING_MESSAGE_END"; messageId: string }
  | { type: "REASONING_END"; messageId: string }
  | { type: "TOOL_CALL_START"; toolCallId: string; toolCallName: string }
  | { type: "TOOL_CALL_ARGS"; toolCallId: string; delta: string }
  | { type: "TOOL_CALL_END"; toolCallId: string }
  | { type: "TOOL_CALL_RESULT"; messageId: string; toolCallId: string; content: string; role: "tool" }
  | { type: "CUSTOM"; name: string; value: unknown };
