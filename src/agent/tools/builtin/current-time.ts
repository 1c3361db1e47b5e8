// The `current_time` tool: the server's clock as an ISO 8601 UTC timestamp.

import { Type } from "@sinclair/typebox";
import { defineTool } from "../tool.ts";

export const currentTimeTool = defineTool({
  name: "current_time",
  description: "Returns the current date and time as an ISO 8601 timestamp in UTC, e.g. 2025-01-31T14:05:09.123Z.",
  parameters: Type.Object({}),
  async execute(_args, context) {
    context.signal.throwIfAborted();
    return { result: new Date().toISOString() };
  },
});
