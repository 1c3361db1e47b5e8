// The Lua scripts that make seq, epoch, history and fan-out of a channel one atomic step in Redis.

import type { RedisConnection } from "./redis-connection.ts";

// Every script takes KEYS[1] = the channel's meta hash {epoch, seq} and KEYS[2] = its history stream,
// ARGV[1] = a fresh epoch (used only when the channel has none: scripts run with a fixed random seed,
// so the epoch is drawn by the caller) and ARGV[2] = the TTL in seconds that every touch renews.
const ENSURE_EPOCH = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local seq = 0
if epoch then
  seq = tonumber(redis.call('HGET', KEYS[1], 'seq'))
else
  -- A channel without an epoch lost its history (expired or never existed): start a new generation.
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0)
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
`;

/** ARGV[3] = history size, ARGV[4] = pub/sub channel, ARGV[5] = origin JSON fragment, ARGV[6] = payload. */
const PUBLISH = `${ENSURE_EPOCH}
seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local id = string.format('%d', seq)
local size = tonumber(ARGV[3])
if size > 0 then
  -- The entry id is the seq, so recovery reads from since+1 directly.
  if ARGV[5] == '' then
    redis.call('XADD', KEYS[2], 'MAXLEN', size, id .. '-0', 'p', ARGV[6])
  else
    redis.call('XADD', KEYS[2], 'MAXLEN', size, id .. '-0', 'p', ARGV[6], 'o', ARGV[5])
  end
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
local origin = ''
if ARGV[5] ~= '' then origin = ',"origin":' .. cjson.encode(ARGV[5]) end
-- The payload is already JSON text: it is spliced in after the header line, never decoded here.
redis.call('PUBLISH', ARGV[4], '{"seq":' .. id .. ',"epoch":' .. cjson.encode(epoch) .. origin .. '}\\n' .. ARGV[6])
return {seq, epoch}
`;

const STATE = `${ENSURE_EPOCH}
return {seq, epoch}
`;

/**
 * ARGV[3] = since, ARGV[4] = the client's epoch ('' for none). Returns {seq, epoch, 1, entries} when
 * every publication after since is still held, else {seq, epoch, 0}.
 */
const RECOVER = `${ENSURE_EPOCH}
local since = tonumber(ARGV[3])
if ARGV[4] ~= epoch or since > seq then return {seq, epoch, 0} end
if since == seq then return {seq, epoch, 1, {}} end
local entries = redis.call('XRANGE', KEYS[2], string.format('%d', since + 1) .. '-0', '+')
if #entries ~= seq - since then return {seq, epoch, 0} end
return {seq, epoch, 1, entries}
`;

export class RedisScript {
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = new Bun.CryptoHasher("sha1").update(source).digest("hex");
  }

  /** EVALSHA, loading the script with EVAL when this server does not know it yet (first use, restart, failover). */
  async run(connection: RedisConnection, keys: string[], args: string[]): Promise<unknown> {
    const parameters = [String(keys.length), ...keys, ...args];
    try {
      return await connection.send("EVALSHA", [this.sha, ...parameters]);
    } catch (error) {
      if (!String((error as Error).message).includes("NOSCRIPT")) throw error;
      return connection.send("EVAL", [this.source, ...parameters]);
    }
  }
}

export const publishScript = new RedisScript(PUBLISH);
export const stateScript = new RedisScript(STATE);
export const recoverScript = new RedisScript(RECOVER);
