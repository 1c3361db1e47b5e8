#!/usr/bin/env bun
// Entry point of `bun start` and of the compiled binary: serve, token or migrate.

import { startApp, openStorage } from "./app.ts";
import { loadSecret } from "./auth/secret.ts";
import { createTokenService, parseDuration } from "./auth/tokens.ts";
import { UsageError, parseArgs, usage, type Command } from "./cli.ts";
import { ConfigError, parseConfig, type Config } from "./config.ts";

async function serve(config: Config): Promise<void> {
  const app = await startApp(config);
  if (app.secretGenerated) {
    // A plain user token: no glob claims, so only `user:dev` / `user:dev:*` and dev's own threads
    // (docs/protocol.md section 3.4). Anyone who reads the log should not get every channel.
    const token = await app.tokens.sign({ sub: "dev" }, 24 * 3600);
    app.logger.info("JWT_SECRET is not set: using the secret generated in DATA_DIR. Dev token for user 'dev' (24h, own channels and threads only):", {
      token,
      chat_page: `${app.url}/#token=${token}`,
      connect_url: `${app.url.replace(/^http/, "ws")}/ws?token=${token}`,
      make_more: "bun run src/index.ts token --sub alice",
    });
  }
  const shutdown = (signal: string) => {
    app.logger.info("signal received", { signal });
    app.stop().then(
      () => process.exit(0),
      (error) => {
        app.logger.error("shutdown failed", { error });
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
}

async function token(config: Config, command: Command): Promise<void> {
  const sub = command.flags.SUB;
  if (!sub) throw new UsageError("token needs --sub <user id>");
  const ttlText = command.flags.TTL ?? "1h";
  const ttl = parseDuration(ttlText);
  if (ttl === undefined || ttl <= 0) throw new UsageError(`--ttl "${ttlText}" is not a duration like 30m, 1h or 7d`);
  if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(sub)) throw new UsageError("--sub must be 1-64 characters of A-Za-z0-9_.@-");
  const { secret } = loadSecret(config.jwtSecret, config.dataDir);
  const claims: { sub: string; subscribe?: string[]; publish?: string[] } = { sub };
  if (command.lists.subscribe) claims.subscribe = command.lists.subscribe;
  if (command.lists.publish) claims.publish = command.lists.publish;
  console.log(await createTokenService(secret).sign(claims, ttl));
}

async function migrate(config: Config): Promise<void> {
  const storage = await openStorage(config);
  await storage.close();
  console.log(`database migrated (${storage.dialect})`);
}

async function main(): Promise<void> {
  let command: Command;
  try {
    command = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${usage}`);
    process.exit(2);
  }
  if (command.name === "help") {
    console.log(usage);
    return;
  }
  const { SUB, TTL, ...settingFlags } = command.flags;
  try {
    const config = parseConfig(process.env, settingFlags);
    if (command.name === "token") await token(config, command);
    else if (command.name === "migrate") await migrate(config);
    else await serve(config);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof UsageError) {
      console.error(`agentwire: ${error.message}`);
      process.exit(2);
    }
    console.error(`agentwire: ${(error as Error).message ?? error}`);
    process.exit(1);
  }
}

await main();
