// Channel names: the pattern, the reserved control channels and the namespaces with built-in meaning.

export const CHANNEL_PATTERN = "^[A-Za-z0-9_:.@-]{1,128}$";
const channelRegExp = new RegExp(CHANNEL_PATTERN);

export const ReservedChannel = {
  auth: "auth",
  subscription: "subscription",
  chat: "chat",
  system: "system",
  error: "error",
} as const;

const reserved = new Set<string>(Object.values(ReservedChannel));

export const THREAD_PREFIX = "thread:";

export function isValidChannel(channel: string): boolean {
  return channelRegExp.test(channel);
}

export function isReservedChannel(channel: string): boolean {
  return reserved.has(channel);
}

export function threadChannel(threadId: string): string {
  return THREAD_PREFIX + threadId;
}

/** The thread id of a `thread:<id>` channel, or undefined for any other channel. */
export function threadIdOf(channel: string): string | undefined {
  return channel.startsWith(THREAD_PREFIX) ? channel.slice(THREAD_PREFIX.length) : undefined;
}

const USER_PREFIX = "user:";

/** Whether `channel` lies in the private namespace of user `sub`: `user:<sub>` or `user:<sub>:*`. */
export function isUserNamespace(channel: string, sub: string): boolean {
  // Compared in place rather than against "user:" + sub: no string built per check.
  const end = USER_PREFIX.length + sub.length;
  return (
    channel.startsWith(USER_PREFIX) &&
    channel.startsWith(sub, USER_PREFIX.length) &&
    (channel.length === end || channel.charCodeAt(end) === 58) // ":"
  );
}

/** The channel the server publishes user `sub`'s notices on, inside the user's own namespace (docs/protocol.md section 6.5). */
export function userNoticeChannel(sub: string): string {
  return `${USER_PREFIX}${sub}:notifications`;
}
