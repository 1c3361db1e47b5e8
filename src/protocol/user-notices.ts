// What the server publishes on a user's notification channel when one of their threads or runs
// changes (docs/protocol.md section 6.5). The user may publish there too: a notice is a hint to
// re-read over REST, never content to show. The channel's name is userNoticeChannel (channels.ts).

import { Type, type Static } from "@sinclair/typebox";
import { literalUnion } from "./literal-union.ts";

export const UserNoticeType = literalUnion(
  "thread_created",
  "thread_renamed",
  "thread_deleted",
  "run_started",
  "run_finished",
  // To a member: the owner shared the thread with it or changed its role; or stopped sharing it.
  "thread_shared",
  "thread_unshared",
);
export type UserNoticeType = Static<typeof UserNoticeType>;

export const UserNotice = Type.Object({
  type: UserNoticeType,
  thread_id: Type.String(),
  /** The run's assistant message, on `run_started` and `run_finished`. */
  message_id: Type.Optional(Type.String()),
});
export type UserNotice = Static<typeof UserNotice>;
