// SDK clients for tests against a real server: connected, quick to reconnect, all closed at the end.

import { AgentwireClient, type AgentwireClientOptions } from "../../src/client/index.ts";
import type { TestServer } from "./server.ts";
import { waitFor } from "./wait.ts";

export class SdkClients {
  private readonly clients: AgentwireClient[] = [];

  /** A client of user `sub` with a getToken, connected before it is returned; fast backoff so tests that cut links stay short. */
  async connect(server: TestServer, sub: string, options: Partial<AgentwireClientOptions> = {}): Promise<AgentwireClient> {
    const client = new AgentwireClient({
      url: server.wsUrl,
      getToken: () => server.token({ sub }),
      minReconnectDelayMs: 5,
      maxReconnectDelayMs: 30,
      ...options,
    });
    this.clients.push(client);
    client.connect();
    await waitFor(() => client.state === "connected", "the client to connect");
    return client;
  }

  closeAll(): void {
    for (const client of this.clients.splice(0)) client.close();
  }
}
