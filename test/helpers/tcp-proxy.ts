// A TCP proxy in front of a test server whose connections a test can cut, as a dropped network would.
// The bench's storm scenario uses it too, in front of one or several nodes.

import type { Socket, TCPSocketListener } from "bun";

export interface TcpProxy {
  readonly port: number;
  /** Destroys every open connection (both sides see a reset, not a close frame). */
  cut(): void;
  /** While refusing, new connections are closed at once. */
  refuse(refusing: boolean): void;
  /** Connections closed at once because the proxy was refusing: attempts made while the link was down. */
  readonly refused: number;
  close(): void;
}

/** One direction's writer: what a socket could not take yet waits for its drain, in order. */
class Pipe {
  socket: Socket<any> | undefined;
  private waiting: Uint8Array[] = [];

  write(chunk: Uint8Array): void {
    if (!this.socket || this.waiting.length > 0) return void this.waiting.push(new Uint8Array(chunk));
    const written = this.socket.write(chunk);
    if (written < chunk.length) this.waiting.push(chunk.slice(Math.max(written, 0)));
  }

  drain(): void {
    while (this.socket && this.waiting.length > 0) {
      const chunk = this.waiting[0]!;
      const written = this.socket.write(chunk);
      if (written < chunk.length) {
        this.waiting[0] = chunk.slice(Math.max(written, 0));
        return;
      }
      this.waiting.shift();
    }
  }
}

interface Link {
  toClient: Pipe;
  toUpstream: Pipe;
}

/** `targetPort` may be a function: each new connection then goes to the port it names (one node of several). */
export function startTcpProxy(targetPort: number | (() => number), targetHost = "127.0.0.1"): TcpProxy {
  const portFor = typeof targetPort === "number" ? () => targetPort : targetPort;
  const open = new Set<Socket<Link>>();
  let refusing = false;
  let refused = 0;
  const listener: TCPSocketListener<Link> = Bun.listen<Link>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        if (refusing) {
          refused++;
          return void client.terminate();
        }
        const link: Link = { toClient: new Pipe(), toUpstream: new Pipe() };
        link.toClient.socket = client;
        client.data = link;
        open.add(client);
        Bun.connect<undefined>({
          hostname: targetHost,
          port: portFor(),
          socket: {
            open(upstream) {
              link.toUpstream.socket = upstream;
              link.toUpstream.drain();
            },
            data: (_upstream, chunk) => link.toClient.write(chunk),
            drain: () => link.toUpstream.drain(),
            close: () => void client.end(),
            error: () => client.terminate(),
          },
        }).catch(() => client.terminate());
      },
      data: (client, chunk) => client.data.toUpstream.write(chunk),
      drain: (client) => client.data.toClient.drain(),
      close(client) {
        open.delete(client);
        client.data?.toUpstream.socket?.end();
      },
      error(client) {
        open.delete(client);
        client.data?.toUpstream.socket?.terminate();
      },
    },
  });
  return {
    port: listener.port,
    cut() {
      for (const client of [...open]) {
        client.data.toUpstream.socket?.terminate();
        client.terminate();
      }
      open.clear();
    },
    refuse(value) {
      refusing = value;
    },
    get refused() {
      return refused;
    },
    close() {
      this.cut();
      listener.stop(true);
    },
  };
}
