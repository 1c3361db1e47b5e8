// The Lua scripts that make seq, epoch, history, its byte budgets and fan-out of a channel one atomic step in Redis.

import type { RedisConnection } from "./redis-connection.ts";

// The channel scripts take KEYS[1] = the channel's meta hash {epoch, seq, bytes, count}, KEYS[2] = its history
// stream, KEYS[3] = the total counted against HISTORY_MAX_BYTES, KEYS[4] = the sorted set of counted
// channels by last use, KEYS[5] = the hash of what each counted channel costs (its own cost plus its
// history's); ARGV[1] = a fresh epoch (used only when the channel has none: scripts run with a fixed
// random seed, so the epoch is drawn by the caller), ARGV[2] = the TTL in seconds that every touch
// renews, ARGV[3] = the channel, ARGV[4] = what its meta alone costs, ARGV[5] = the total byte budget,
// ARGV[6] = how many eviction candidates to return. The total is always the sum of the size hash, which
// holds exactly the members of the sorted set: every script changes them together. Every meta is counted
// from the script that creates it; one without bytes is counted at ARGV[4], not yet as a channel with
// history. Scores are microseconds of Redis's clock.
const READ_META = `
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'seq', 'bytes', 'count')
local epoch = meta[1]
local seq, bytes, count = 0, 0, 0
local fresh = not epoch
if epoch then
  seq = tonumber(meta[2])
  bytes = tonumber(meta[3] or '0')
  -- A channel from before the byte budgets has no count, only its stream to ask.
  count = tonumber(meta[4] or redis.call('XLEN', KEYS[2]))
else
  -- A channel without an epoch lost its history (expired or never existed): start a new generation.
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  -- Its keys expired while it was still counted: what it cost went with them.
  local stale = redis.call('HGET', KEYS[5], ARGV[3])
  if stale then
    redis.call('DECRBY', KEYS[3], stale)
    redis.call('HDEL', KEYS[5], ARGV[3])
    redis.call('ZREM', KEYS[4], ARGV[3])
  end
end
`;

/**
 * Sets `evict` to the least recently used channels, name and score, when creating the meta took the total
 * over budget. Only creating one costs more than reading it: a channel that has one is counted already.
 */
const ENSURE_EPOCH = `${READ_META}
local evict = nil
if fresh then
  -- No bytes or count yet: most channels only ever subscribed to stay this small. Counted all the same,
  -- or subscribing to ever new names would fill Redis for HISTORY_TTL_S.
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0)
  local time = redis.call('TIME')
  redis.call('ZADD', KEYS[4], tonumber(time[1]) * 1000000 + tonumber(time[2]), ARGV[3])
  redis.call('HSET', KEYS[5], ARGV[3], ARGV[4])
  if redis.call('INCRBY', KEYS[3], ARGV[4]) > tonumber(ARGV[5]) then
    evict = redis.call('ZRANGE', KEYS[4], 0, tonumber(ARGV[6]) - 1, 'WITHSCORES')
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
`;

const NOW = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
`;

/**
 * ARGV[7] = history size, ARGV[8] = pub/sub channel, ARGV[9] = origin, ARGV[10] = payload, ARGV[11] = the
 * publication's cost, ARGV[12] = the channel's own cost, ARGV[13] = the channel's byte budget. Returns
 * {seq, epoch}, and when the total is over budget a third element: the least recently used channels, name
 * and score.
 */
const PUBLISH = `${READ_META}${NOW}
seq = seq + 1
local id = string.format('%d', seq)
local delta = 0
-- Counted as a channel with history from its first publication (again after being forgotten): seq and
-- epoch cost too. One counted so far for its meta alone (it has no bytes yet) now costs the difference.
if redis.call('ZADD', KEYS[4], now, ARGV[3]) == 1 then
  delta = tonumber(ARGV[12])
elseif not meta[3] then
  delta = tonumber(ARGV[12]) - tonumber(ARGV[4])
end
local size = tonumber(ARGV[7])
if size > 0 then
  local cost = tonumber(ARGV[11])
  local maxBytes = tonumber(ARGV[13])
  -- Reading what the oldest cost is the dear part, so a long history is cut back a sixteenth of its size
  -- at a time (RECOVER keeps to historySize regardless); over the byte budget it is cut back at once.
  -- Oldest first, while over the count or the channel's bytes with the new one in.
  local removed, freed, cursor, last = 0, 0, '-', nil
  local due = count + 1 > size + math.floor(size / 16) or bytes + cost > maxBytes
  while due and removed < count and (count + 1 - removed > size or bytes + cost - freed > maxBytes) do
    local want = count + 1 - removed - size
    if want < 1 then want = 8 end
    local entries = redis.call('XRANGE', KEYS[2], cursor, '+', 'COUNT', want)
    if #entries == 0 then break end
    for _, entry in ipairs(entries) do
      if not (count + 1 - removed > size or bytes + cost - freed > maxBytes) then break end
      local fields = entry[2]
      for index = 1, #fields, 2 do
        if fields[index] == 'c' then freed = freed + tonumber(fields[index + 1]) end
      end
      removed = removed + 1
      last = entry[1]
      cursor = '(' .. last
    end
  end
  local add = {KEYS[2]}
  if removed == count then
    if count > 0 then redis.call('DEL', KEYS[2]) end
  elseif removed > 0 then
    -- Ids are <seq>-0, so <seq>-1 is the lowest id above the last one dropped; the XADD trims.
    add = {KEYS[2], 'MINID', string.match(last, '^%d+') .. '-1'}
  end
  count = count - removed
  bytes = bytes - freed
  delta = delta - freed
  -- One publication over the channel's budget by itself is not kept (the loop above dropped all others).
  if cost <= maxBytes then
    -- The entry id is the seq, so recovery reads from since+1 directly; c is the cost, taken off when trimmed.
    for _, value in ipairs({id .. '-0', 'p', ARGV[10]}) do add[#add + 1] = value end
    if ARGV[9] ~= '' then add[#add + 1] = 'o'; add[#add + 1] = ARGV[9] end
    add[#add + 1] = 'c'
    add[#add + 1] = ARGV[11]
    redis.call('XADD', unpack(add))
    count = count + 1
    bytes = bytes + cost
    delta = delta + cost
    redis.call('EXPIRE', KEYS[2], ARGV[2])
  end
end
if fresh then
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', seq, 'bytes', bytes, 'count', count)
else
  redis.call('HSET', KEYS[1], 'seq', seq, 'bytes', bytes, 'count', count)
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
local over = false
if delta ~= 0 then
  over = redis.call('INCRBY', KEYS[3], delta) > tonumber(ARGV[5])
  redis.call('HINCRBY', KEYS[5], ARGV[3], delta)
end
local origin = ''
if ARGV[9] ~= '' then origin = ',"origin":' .. cjson.encode(ARGV[9]) end
-- The payload is already JSON text: it is spliced in after the header line, never decoded here.
redis.call('PUBLISH', ARGV[8], '{"seq":' .. id .. ',"epoch":' .. cjson.encode(epoch) .. origin .. '}\\n' .. ARGV[10])
if over and delta > 0 then
  return {seq, epoch, redis.call('ZRANGE', KEYS[4], 0, tonumber(ARGV[6]) - 1, 'WITHSCORES')}
end
return {seq, epoch}
`;

/** Returns {seq, epoch}, and the eviction candidates as a third element when the total is over budget. */
const STATE = `${ENSURE_EPOCH}
return {seq, epoch, evict}
`;

/**
 * ARGV[7] = since, ARGV[8] = the client's epoch ('' for none), ARGV[9] = history size. Returns
 * {seq, epoch, 1, entries} when every publication after since is still held, else {seq, epoch, 0}, then
 * the eviction candidates when the total is over budget (only a new meta, never recovered, adds to it).
 */
const RECOVER = `${ENSURE_EPOCH}
local since = tonumber(ARGV[7])
if ARGV[8] ~= epoch or since > seq then return {seq, epoch, 0, evict} end
if since == seq then return {seq, epoch, 1, {}} end
-- The stream may hold a few more than the history size until PUBLISH cuts it back: they do not count.
if since < seq - tonumber(ARGV[9]) then return {seq, epoch, 0} end
local entries = redis.call('XRANGE', KEYS[2], string.format('%d', since + 1) .. '-0', '+')
if #entries ~= seq - since then return {seq, epoch, 0} end
return {seq, epoch, 1, entries}
`;

// The budget scripts take KEYS[1] = the total, KEYS[2] = the sorted set, KEYS[3] = the size hash, then
// the meta hash and history stream of each channel they may touch, in the order of their ARGV entries.
const FORGET = `
local function forget(index, channel)
  redis.call('DEL', KEYS[2 + 2 * index], KEYS[3 + 2 * index])
  local size = tonumber(redis.call('HGET', KEYS[3], channel) or '0')
  redis.call('HDEL', KEYS[3], channel)
  redis.call('ZREM', KEYS[2], channel)
  return size
end
`;

/**
 * ARGV[1] = the total byte budget, ARGV[2] = the channel being published or created (it keeps its seq and
 * epoch), ARGV[3] = how many candidates to return, then for each candidate its name, the score it was
 * picked at and its pub/sub channel. Least recently used (published, created, kept as listened to) first,
 * until under budget: a channel's history goes first, its seq and epoch kept so that resuming there gives
 * recovered:false rather than a gap; a channel already without history (or never published to, or whose
 * keys expired) is forgotten, unless a node listens to it: its subscribers would take the seqs of a new
 * epoch for ones they had, so it counts as just used instead.
 * Returns {over, changed, candidates when over}.
 */
const EVICT = `${FORGET}${NOW}
local budget = tonumber(ARGV[1])
local total = tonumber(redis.call('GET', KEYS[1]) or '0')
local changed = 0
for index = 1, (#KEYS - 3) / 2 do
  if total <= budget then break end
  local channel = ARGV[1 + 3 * index]
  local score = redis.call('ZSCORE', KEYS[2], channel)
  -- Gone, or published since it was picked, so no longer among the least recent.
  if score and tonumber(score) <= tonumber(ARGV[2 + 3 * index]) then
    local meta, history = KEYS[2 + 2 * index], KEYS[3 + 2 * index]
    local freed = 0
    local exists = redis.call('EXISTS', meta) == 1
    if exists and redis.call('EXISTS', history) == 1 then
      freed = tonumber(redis.call('HGET', meta, 'bytes') or '0')
      redis.call('DEL', history)
      redis.call('HSET', meta, 'bytes', 0, 'count', 0)
      redis.call('HINCRBY', KEYS[3], channel, -freed)
      changed = changed + 1
    elseif not exists then
      freed = forget(index, channel)
      changed = changed + 1
    elseif channel ~= ARGV[2] then
      if redis.call('PUBSUB', 'NUMSUB', ARGV[3 + 3 * index])[2] == 0 then
        freed = forget(index, channel)
      else
        redis.call('ZADD', KEYS[2], now, channel)
      end
      changed = changed + 1
    end
    total = redis.call('DECRBY', KEYS[1], freed)
  end
end
if total <= budget then return {0, changed} end
if redis.call('ZCARD', KEYS[2]) == 0 then
  -- Nothing is counted, so nothing is held: a total left over (keys deleted by hand) is wrong.
  redis.call('SET', KEYS[1], 0)
  return {0, changed}
end
return {1, changed, redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[3]) - 1, 'WITHSCORES')}
`;

/** KEYS[1] = the sorted set; ARGV[1] = the TTL in seconds, ARGV[2] = at most this many. Channels last used before the TTL. */
const EXPIRY_CANDIDATES = `${NOW}
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]) * 1000000, 'LIMIT', 0, tonumber(ARGV[2]))
`;

/**
 * ARGV[1] = the TTL in seconds, then the channels. A channel whose keys expired is no longer counted; one still
 * there was touched (subscribed to, recovered) after its last publication, so it is placed at that touch
 * and looked at again only once it too is a TTL old. Returns how many were no longer counted.
 */
const EXPIRE = `${FORGET}${NOW}
local ttl = tonumber(ARGV[1]) * 1000000
local removed = 0
for index = 1, (#KEYS - 3) / 2 do
  local channel = ARGV[1 + index]
  local score = redis.call('ZSCORE', KEYS[2], channel)
  if score and tonumber(score) <= now - ttl then
    local left = redis.call('PTTL', KEYS[2 + 2 * index])
    if left == -2 then
      redis.call('DECRBY', KEYS[1], forget(index, channel))
      removed = removed + 1
    else
      local touched = now
      if left >= 0 then touched = now - ttl + left * 1000 end
      redis.call('ZADD', KEYS[2], touched, channel)
    end
  end
end
return removed
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
export const evictScript = new RedisScript(EVICT);
export const expiryCandidatesScript = new RedisScript(EXPIRY_CANDIDATES);
export const expireScript = new RedisScript(EXPIRE);
