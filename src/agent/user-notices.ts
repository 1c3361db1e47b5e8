// Tells a user's other clients that one of their threads or runs changed, from whichever entry point
// changed it (docs/protocol.md section 6.5), through the same publish as run events: with the Redis
// engine every node's subscribers get it.

import type { Logger } from "../observability/log.ts";
import { userNoticeChannel, type UserNotice } from "../protocol/index.ts";
import type { Publish } from "./run-driver.ts";

export class UserNotices {
  constructor(
    private readonly publish: Publish,
    private readonly logger: Logger,
  ) {}

  /**
   * Publishes without holding up the change it reports: a notice is a hint, and a client that missed
   * one catches up on its next REST read.
   */
  send(userId: string, notice: UserNotice): void {
    this.publish(userNoticeChannel(userId), JSON.stringify(notice)).catch((error: unknown) =>
      this.logger.warn("could not publish a user notice", { type: notice.type, thread: notice.thread_id, error: String(error) }),
    );
  }
}
