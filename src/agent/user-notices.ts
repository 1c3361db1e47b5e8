// Tells a user's other clients that one of their threads or runs changed, from whichever entry point
// changed it (docs/protocol.md section 6.5), through the same publish as run events: with the Redis
// engine every node's subscribers get it. A shared thread's notices go to its members too (section 14.6).

import type { Logger } from "../observability/log.ts";
import { userNoticeChannel, type UserNotice } from "../protocol/index.ts";
import type { Storage } from "../storage/storage.ts";
import type { Publish } from "./run-driver.ts";

export class UserNotices {
  constructor(
    private readonly publish: Publish,
    private readonly storage: Pick<Storage, "listMembers">,
    private readonly logger: Logger,
  ) {}

  /**
   * Publishes without holding up the change it reports: a notice is a hint, and a client that missed
   * one catches up on its next REST read.
   */
  send(userId: string, notice: UserNotice): void {
    this.publish(userNoticeChannel(userId), JSON.stringify(notice)).catch((error: unknown) => this.dropped(notice, error));
  }

  /**
   * Sends the notice to the thread's owner and to every member: `members` when the caller read them
   * already (a deleted thread has none left to read), else one read of the thread's members, at most
   * MAX_THREAD_MEMBERS of them.
   */
  sendToThread(ownerId: string, notice: UserNotice, members?: readonly string[]): void {
    this.send(ownerId, notice);
    const users = members ? Promise.resolve(members) : this.storage.listMembers(notice.thread_id).then((list) => list.map((member) => member.userId));
    users.then(
      (list) => list.forEach((userId) => this.send(userId, notice)),
      (error: unknown) => this.dropped(notice, error),
    );
  }

  private dropped(notice: UserNotice, error: unknown): void {
    this.logger.warn("could not publish a user notice", { type: notice.type, thread: notice.thread_id, error: String(error) });
  }
}
