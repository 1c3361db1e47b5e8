#!/usr/bin/env python3
"""An external agent publishing a run to an agentwire channel, with the `websockets` library.

It streams the same kinds of payloads the built-in agent does (status, tool, response deltas,
completed), so a page subscribed to the channel can render it. Usage:

    pip install websockets            # or: apt-get install python3-websockets
    TOKEN=$(bun run src/index.ts token --sub agent --publish 'agents:*')
    AGENTWIRE_TOKEN=$TOKEN python3 examples/python-publisher.py agents:demo

Watch it with a token whose `subscribe` claim covers `agents:*`.
"""

import asyncio
import json
import os
import sys
import time
import uuid

import websockets

URL = os.environ.get("AGENTWIRE_URL", "ws://localhost:8080/ws")
TOKEN = os.environ.get("AGENTWIRE_TOKEN")


class Publisher:
    def __init__(self, socket, channel):
        self.socket = socket
        self.channel = channel
        self.message_id = str(uuid.uuid4())

    async def request(self, channel, payload):
        """Send a frame with an id and wait for the direct reply carrying it."""
        frame_id = uuid.uuid4().hex[:12]
        await self.socket.send(json.dumps({"channel": channel, "id": frame_id, "payload": payload}))
        while True:
            reply = json.loads(await self.socket.recv())
            if reply.get("id") == frame_id:
                if reply["channel"] == "error":
                    raise RuntimeError(f"{reply['payload']['code']}: {reply['payload']['message']}")
                return reply

    async def event(self, type_, status, message, final=False, **extra):
        payload = {
            "type": type_,
            "status": status,
            "message": message,
            "timestamp": time.time(),
            "final_message": final,
            "message_id": self.message_id,
            **extra,
        }
        ack = await self.request(self.channel, payload)
        return ack["payload"]["seq"]


async def main(channel):
    if not TOKEN:
        sys.exit("set AGENTWIRE_TOKEN (bun run src/index.ts token --sub agent --publish 'agents:*')")
    async with websockets.connect(URL) as socket:
        # The token goes in the first frame rather than the URL, where proxies may log it.
        await socket.send(json.dumps({"channel": "auth", "payload": {"token": TOKEN}}))
        connected = json.loads(await socket.recv())
        print("connected as", connected["payload"]["user_id"])
        run = Publisher(socket, channel)
        await run.event("status", "started", "Run started")
        tool = {"call_id": "c1", "name": "lookup", "arguments": {"city": "Lisbon"}}
        await run.event("tool", "processing", "Running lookup", tool=tool)
        await asyncio.sleep(0.2)
        await run.event("tool", "done", "lookup finished", tool={**tool, "result": "18°C, sunny"})
        await run.event("status", "responding", "Responding")
        answer = "It is 18°C and sunny in Lisbon."
        for word in answer.split(" "):
            await run.event("response", "in_progress", word + " ")
            await asyncio.sleep(0.05)
        seq = await run.event("response", "completed", answer, final=True)
        print(f"published the run to {channel}, last seq {seq}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "agents:demo"))
