// Runs an MCP server over stdio and appends a copy of everything it reads to a file, so a test can see
// what reached the server (a cancellation). Usage: bun tap.ts <file> <command> [args...]. Ends the server
// when its input ends or the tap is told to stop.

import { appendFileSync } from "node:fs";

const [file, ...command] = process.argv.slice(2);
if (!file || command.length === 0) throw new Error("usage: bun tap.ts <file> <command> [args...]");
const server = Bun.spawn(command, { stdin: "pipe", stdout: "inherit", stderr: "inherit" });
process.on("SIGTERM", () => {
  server.kill();
  process.exit(0);
});
for await (const chunk of Bun.stdin.stream()) {
  appendFileSync(file, chunk);
  server.stdin.write(chunk);
  await server.stdin.flush();
}
server.kill();
