// The in-memory presence engine against the shared contract.

import { MemoryPresence } from "../../src/broker/memory-presence.ts";
import { describePresenceContract } from "./presence.contract.ts";

describePresenceContract("MemoryPresence", async () => {
  const presence = new MemoryPresence();
  return { first: presence, second: presence, cleanup: () => presence.close() };
});
