// Executes one started run: the agent's steps driven onto the thread channel under the run's one abort
// signal (its stop, its time limit, the server's shutdown), and how it ended stored even when
// publishing or storing failed under it.

import type { Config } from "../config.ts";
import type { Logger } from "../observability/log.ts";
import type { Storage } from "../storage/storage.ts";
import type { ModelClient, ModelMessage } from "./model/model-client.ts";
import { runAgent, type ToolSet } from "./run.ts";
import { RunDriver, type Publish } from "./run-driver.ts";
import { RunPresence, type PresenceWriter } from "./run-presence.ts";
import { threadChannel } from "../protocol/index.ts";
import type { ActiveRun } from "./run-registry.ts";

/** The abort reason of runs cut off by the server's shutdown. */
export const SHUTDOWN = "shutdown";

export interface ExecuteRunDeps {
  config: Pick<Config, "runTimeoutS" | "maxToolRounds" | "toolMaxChars" | "coalesceMs" | "checkpointMs">;
  storage: Storage;
  logger: Logger;
  model: ModelClient;
  tools: ToolSet;
  publish: Publish;
  /** Where the agent is present on the threads of its runs (docs/protocol.md section 14). */
  presence?: PresenceWriter;
  requiresApproval(toolName: string): boolean;
  /** Forgets the run: called once its end is stored, before its final event goes out, and again when it is over. */
  release(run: ActiveRun): void;
}

export async function executeRun(run: ActiveRun, messages: ModelMessage[], useReasoning: boolean, deps: ExecuteRunDeps): Promise<void> {
  const { config, storage, model, tools } = deps;
  const log = deps.logger.child({ thread_id: run.threadId, message_id: run.messageId });
  const timeLimit = AbortSignal.timeout(config.runTimeoutS * 1000);
  const signal = AbortSignal.any([run.controller.signal, timeLimit]);
  const driver = new RunDriver(run.threadId, run.messageId, {
    publish: deps.publish,
    storage,
    logger: log,
    coalesceMs: config.coalesceMs,
    checkpointMs: config.checkpointMs,
    // Released before the final event goes out, so a send reacting to it is not a conflict.
    onFinalStored: () => deps.release(run),
    presence: deps.presence && new RunPresence(deps.presence, threadChannel(run.threadId), run.messageId, log),
  });
  const steps = runAgent(
    { threadId: run.threadId, userId: run.startedBy, messages, useReasoning },
    {
      model,
      tools,
      storage,
      maxToolRounds: config.maxToolRounds,
      toolMaxChars: config.toolMaxChars,
      requiresApproval: deps.requiresApproval,
      awaitApproval: (callId, abort) => run.approvals.wait(callId, abort),
      abortMessage: () => {
        if (run.controller.signal.reason === SHUTDOWN) {
          return { message: "the server shut down before the run finished", details: { kind: "shutdown" } };
        }
        if (timeLimit.aborted) return { message: `the run passed its time limit of ${config.runTimeoutS} s`, details: { kind: "run_timeout" } };
        return undefined;
      },
      onUnexpectedError: (error) => log.error("run failed unexpectedly", { error }),
    },
    signal,
  );
  try {
    const final = await driver.drive(steps);
    if (run.controller.signal.reason === SHUTDOWN) await storage.updateMessage(run.messageId, { status: "interrupted" });
    log.debug("run finished", { outcome: final.outcome });
  } catch (error) {
    // The broker or the database failed under the run: nothing more can be published, so the
    // stored message carries the outcome.
    log.error("run could not be published or stored", { error });
    await storage
      .updateMessage(run.messageId, { ...driver.state.patch(), status: "error", error: { message: "the run was cut off by a server failure" } })
      .catch((storeError) => log.error("could not mark the run as failed", { error: storeError }));
  } finally {
    deps.release(run);
  }
}
