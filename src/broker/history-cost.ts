// What history costs, counted against HISTORY_MAX_BYTES and HISTORY_CHANNEL_MAX_BYTES by every engine.

/**
 * Memory a kept publication costs beyond its text: the Publication object, its ring slot and the
 * allocator's share. Measured on Bun 1.4 as the growth of bun:jsc `memoryUsage().current` (equal to RSS
 * growth here) after `Bun.gc(true)`, per publication, for 10^6 publications of `{}` with a 36-character
 * origin: 180-200 bytes on 1,000 channels of HISTORY_SIZE 1,000, 195-205 on one channel of 10^6 (the
 * GC heap alone, bun:jsc `heapStats().heapSize`, grows 95-115); test/broker/memory-history-budget.test.ts
 * measures it again. A Redis stream entry costs less (60-100 bytes with its text, by MEMORY USAGE), so
 * the same figure overstates Redis, on the safe side.
 */
export const PUBLICATION_OVERHEAD_BYTES = 256;

/**
 * Memory a channel with history costs in the memory engine beyond its name: record, Map entry, History
 * and epoch. Measured as above for 3·10^5 channels with one `{}` publication each: 860-900 bytes per
 * channel, of which about 240 are the publication with its text.
 */
export const MEMORY_CHANNEL_OVERHEAD_BYTES = 768;

/**
 * What a channel with history costs in Redis beyond the names in its keys: its meta hash, its stream (whose
 * newest node Redis allocates at stream-node-max-bytes, 4 KiB by default, however few entries it has),
 * its members in the budget's sorted set and hash, and the expiry entries of two keys. Measured as the sum
 * of MEMORY USAGE over a prefix's keys, per channel, for 10^4 channels with one `{}` publication each:
 * 5,150 bytes with a 37-byte prefix and 13-byte names (about 5,000 without them), on Redis 7.0;
 * test/broker/redis-history-budget.test.ts measures it again.
 */
export const REDIS_CHANNEL_OVERHEAD_BYTES = 6144;

/**
 * What a channel never published to (only subscribed to, or recovered) costs in Redis beyond the names in
 * its keys: its meta hash {epoch, seq}, its members in the budget's sorted set and hash, and its key's
 * expiry entry. Measured as the sum of MEMORY USAGE over a prefix's keys, per channel, for 10^4 channels
 * after one `state()` each: 340 bytes with a 24-byte prefix and 15-byte names (136 the meta, 127 the sorted
 * set's member, 76 the hash's), about 270 without them, on Redis 7.0; used_memory grew 416 (about 350
 * without the names), counting the expiry entry and the key tables that MEMORY USAGE leaves out.
 * test/broker/redis-history-budget.test.ts measures it again.
 */
export const REDIS_META_OVERHEAD_BYTES = 384;

/**
 * Bytes a string held in memory may take. JavaScriptCore keeps Latin-1 text at one byte a character and
 * anything else at two, so non-ASCII text counts as the larger of its UTF-8 length and two bytes a
 * character; that also covers Redis, which stores the UTF-8 bytes.
 */
export function textBytes(text: string): number {
  const utf8 = Buffer.byteLength(text, "utf8");
  return utf8 === text.length ? utf8 : Math.max(utf8, 2 * text.length);
}

/** What one kept publication counts against its channel's budget and the total, on every engine. */
export function publicationCost(channel: string, payload: string, origin: string | undefined): number {
  return PUBLICATION_OVERHEAD_BYTES + textBytes(channel) + textBytes(payload) + (origin ? textBytes(origin) : 0);
}

/** What a channel holding history counts against the total in the memory engine, besides its publications. */
export function memoryChannelCost(channel: string): number {
  return MEMORY_CHANNEL_OVERHEAD_BYTES + textBytes(channel);
}

/** The same in Redis, whose keys spell out the prefix twice and the channel four times (see redis-broker.ts). */
export function redisChannelCost(prefix: string, channel: string): number {
  return REDIS_CHANNEL_OVERHEAD_BYTES + 2 * textBytes(prefix) + 4 * textBytes(channel);
}

/**
 * What a channel's meta alone counts in Redis, from the script that creates it until the first publication
 * counts it as redisChannelCost: its key spells out the prefix once, the channel there and in the budget's
 * two members.
 */
export function redisMetaCost(prefix: string, channel: string): number {
  return REDIS_META_OVERHEAD_BYTES + textBytes(prefix) + 3 * textBytes(channel);
}
