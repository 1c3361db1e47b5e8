// A bare TCP WebSocket client for what a browser client cannot do: never read, never answer pings.

import { connect, type Socket } from "node:net";

export interface RawFrame {
  opcode: number;
  payload: Buffer;
}

export class RawSocket {
  private buffer = Buffer.alloc(0);
  readonly frames: RawFrame[] = [];
  upgraded = false;
  ended = false;
  private listeners: (() => void)[] = [];

  private constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("close", () => {
      this.ended = true;
      this.notify();
    });
    socket.on("error", () => {});
  }

  static async open(port: number, path: string): Promise<RawSocket> {
    const socket = connect(port, "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    const raw = new RawSocket(socket);
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    await raw.until(() => raw.upgraded);
    return raw;
  }

  /** Stop reading from the kernel, so the server's send queue for this socket grows. */
  pause(): void {
    this.socket.pause();
  }

  /** Sends a masked text frame, as a client must. */
  sendText(text: string): void {
    const payload = Buffer.from(text);
    const mask = Buffer.from([1, 2, 3, 4]);
    let header: Buffer;
    if (payload.length < 126) header = Buffer.from([0x81, 0x80 | payload.length]);
    else if (payload.length < 65536) {
      header = Buffer.alloc(4);
      header[0] = 0x81;
      header[1] = 0x80 | 126;
      header.writeUInt16BE(payload.length, 2);
    } else {
      header = Buffer.alloc(10);
      header[0] = 0x81;
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(payload.length), 2);
    }
    const masked = Buffer.from(payload.map((byte, index) => byte ^ mask[index % 4]!));
    this.socket.write(Buffer.concat([header, mask, masked]));
  }

  /** The close frame's code, once one arrived. */
  closeCode(): number | undefined {
    const frame = this.frames.find((f) => f.opcode === 0x8);
    return frame && frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : undefined;
  }

  until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("raw socket condition not met in time")), timeoutMs);
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        this.listeners = this.listeners.filter((listener) => listener !== check);
        resolve();
      };
      this.listeners.push(check);
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    if (!this.upgraded) {
      const end = this.buffer.indexOf("\r\n\r\n");
      if (end < 0) return;
      this.upgraded = this.buffer.subarray(0, end).toString().startsWith("HTTP/1.1 101");
      this.buffer = this.buffer.subarray(end + 4);
    }
    for (;;) {
      if (this.buffer.length < 2) break;
      const opcode = this.buffer[0]! & 0x0f;
      let length = this.buffer[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (this.buffer.length < 4) break;
        length = this.buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (this.buffer.length < 10) break;
        length = Number(this.buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (this.buffer.length < offset + length) break;
      this.frames.push({ opcode, payload: this.buffer.subarray(offset, offset + length) });
      this.buffer = this.buffer.subarray(offset + length);
    }
    this.notify();
  }
}
