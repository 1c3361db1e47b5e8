// WebSocket connection ids (docs/protocol.md section 3.2: a UUID in the version 4 format), kept as a
// number and written out when asked for: a UUID string is about 80 bytes per connection, and memory is
// per connection.
//
// An id is a version 4 UUID whose first 74 random bits are drawn once per process and whose last 48 bits
// are the connection's serial number put through a keyed permutation: unique within the process (a
// permutation of distinct serials), unique across processes with the odds of 74 random bits, and not
// a counter that tells how many connections a node has had.

const KEYS = crypto.getRandomValues(new Uint32Array(4));
const HALF = 0xff_ffff;

const hex = (value: number, digits: number) => value.toString(16).padStart(digits, "0");

function randomPrefix(): string {
  const [a, b, c] = crypto.getRandomValues(new Uint32Array(3)) as unknown as [number, number, number];
  // xxxxxxxx-xxxx-4xxx-Vxxx-: the version nibble 4 and the variant bits 10 are fixed.
  const variant = 0x8000 | (c & 0x3fff);
  return `${hex(a, 8)}-${hex(b >>> 16, 4)}-4${hex(b & 0xfff, 3)}-${hex(variant, 4)}-`;
}

const PREFIX = randomPrefix();

/** A four-round Feistel network over two 24-bit halves: a bijection of [0, 2^48). */
function permute(serial: number): number {
  let left = Math.floor(serial / 0x100_0000) & HALF;
  let right = serial & HALF;
  // An indexed loop: a for-of over a typed array iterates through an iterator object each time.
  for (let round = 0; round < KEYS.length; round++) {
    const mixed = (Math.imul(right ^ KEYS[round]!, 0x9e37_79b1) >>> 8) & HALF;
    const swapped = left ^ mixed;
    left = right;
    right = swapped;
  }
  return left * 0x100_0000 + right;
}

let serials = 0;

/** The serial of a new connection, below 2^48. */
export function nextConnectionSerial(): number {
  return serials++;
}

/** The id of the connection with this serial. */
export function connectionId(serial: number): string {
  // 2^48 + value written in hex is "1" and the value's 12 digits, leading zeros included.
  return PREFIX + (0x1_0000_0000_0000 + permute(serial)).toString(16).slice(1);
}
