// A load-generator process of the capacity scenario: opens idle connections, each authenticated and
// subscribed to its own channel, a fixed number in flight at a time, and keeps them open until killed.

import { signToken } from "./clients.ts";
import type { CapacityCommand, CapacityReport } from "./capacity-messages.ts";

const CONNECT_TIMEOUT_MS = 20_000;

const send = (report: CapacityReport) => process.send!(report);
/** Held only so that the sockets stay open (and are not collected) until the process is killed. */
const sockets: WebSocket[] = [];
/** Each user's own token, signed by `prepare`. */
const tokens = new Map<string, string>();

async function prepare(command: Extract<CapacityCommand, { type: "prepare" }>): Promise<void> {
  for (let index = command.first; index < command.first + command.count; index++) {
    const user = `${command.prefix}${index}`;
    tokens.set(user, await signToken({ sub: user }));
  }
}

/** Connect, wait for `connected`, subscribe to `channel`, wait for its ack: what the scenario counts as one connection set up. */
function openOne(url: string, channel: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    const timer = setTimeout(() => fail(`no ack for ${channel} within ${CONNECT_TIMEOUT_MS} ms`), CONNECT_TIMEOUT_MS);
    const fail = (text: string) => {
      clearTimeout(timer);
      socket.onmessage = socket.onclose = null;
      socket.close();
      reject(new Error(text));
    };
    let connected = false;
    socket.onclose = (event) => fail(`closed with ${event.code} ${event.reason} while setting up ${channel}`);
    socket.onmessage = (event) => {
      const text = event.data as string;
      if (!connected) {
        if (!text.includes('"connected"')) return fail(`unexpected first frame ${text}`);
        connected = true;
        socket.send(`{"channel":"subscription","id":"s","payload":{"action":"subscribe","channel":"${channel}"}}`);
        return;
      }
      if (!text.includes('"subscribed"')) return fail(`unexpected reply to subscribe: ${text}`);
      clearTimeout(timer);
      socket.onmessage = socket.onclose = null;
      sockets.push(socket);
      resolve();
    };
  });
}

/** Opens `count` connections with `inFlight` set-ups under way at any time (a sliding window, not batches). */
async function open(command: Extract<CapacityCommand, { type: "open" }>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < command.count) {
      const user = `${command.prefix}${command.first + next++}`;
      const token = command.token ?? tokens.get(user);
      if (token === undefined) throw new Error(`no token prepared for ${user}`);
      await openOne(`${command.url}?token=${token}`, `user:${user}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(command.inFlight, command.count) }, lane));
}

process.on("message", (message: CapacityCommand) => {
  if (message.type === "prepare") {
    prepare(message).then(
      () => send({ type: "prepared", id: message.id }),
      (error) => send({ type: "failed", id: message.id, text: (error as Error).message }),
    );
    return;
  }
  const startedAt = performance.now();
  open(message).then(
    () => send({ type: "opened", id: message.id, ms: performance.now() - startedAt }),
    (error) => send({ type: "failed", id: message.id, text: (error as Error).message }),
  );
});
send({ type: "ready" });
