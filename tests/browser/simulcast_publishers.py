"""Simulcast publishers for browser tests, in a process of their own: each joins a room
over Socket.IO with its join link's token, publishes its camera in three layers and a
microphone as Chrome does (benchmarks/simulcast.py: pre-encoded VP8 per layer and an
Opus tone), and pauses layers when told (``publish_layers``), as the web client does.

A browser test with many participants runs them here rather than as Chromium pages
(each page encodes three layers; the machine has two cores), and in another process
than the server, so that the two share the cores rather than one event loop.

    python -m tests.browser.simulcast_publishers URL TOKEN [TOKEN ...]

Prints ``{"joined": [participant ids]}`` once every one has joined (the test admits
them), ``{"ready": [participant ids]}`` once every one's media is connected, and runs
until its standard input closes.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import socketio

from benchmarks.simulcast import SimulcastClip, SimulcastPublisher, encode_simulcast_clip

CALL_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 60.0


class Member:
    def __init__(self, url: str, token: str, clip: SimulcastClip) -> None:
        self.url = url
        self.token = token
        self.sio = socketio.AsyncClient(reconnection=False)
        self.publisher = SimulcastPublisher(clip)
        self.participant_id = ""
        self.admitted = asyncio.Event()
        self.sio.on("publish_layers", self._layers)
        self.sio.on("room_snapshot", self._snapshot)

    async def _layers(self, data: Any) -> None:
        self.publisher.set_active(data["active"])

    async def _snapshot(self, data: Any) -> None:
        if data["you"]["state"] == "admitted":
            self.admitted.set()

    async def call(self, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        reply: dict[str, Any] = await self.sio.call(event, payload, timeout=CALL_TIMEOUT_S)
        if not reply.get("ok"):
            raise RuntimeError(f"{event} refused: {reply}")
        return reply

    async def join(self) -> None:
        await self.sio.connect(self.url, transports=["websocket"], wait_timeout=10)
        reply = await self.call("join", {"token": self.token, "microphone": True, "camera": True})
        you = reply["snapshot"]["you"]
        self.participant_id = you["participant_id"]
        if you["state"] == "admitted":
            self.admitted.set()

    async def publish(self) -> None:
        await self.admitted.wait()

        async def send_offer(sdp: str) -> str:
            answer = await self.call("publish", {"sdp": sdp, "type": "offer"})
            return str(answer["sdp"])

        await self.publisher.publish(send_offer)

    async def connected(self) -> None:
        pc = self.publisher.pc
        done = asyncio.Event()

        @pc.on("connectionstatechange")
        def changed() -> None:
            if pc.connectionState == "connected":
                done.set()

        changed()
        await done.wait()

    async def close(self) -> None:
        await self.publisher.close()
        await self.sio.disconnect()


def say(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


async def run(url: str, tokens: list[str]) -> None:
    clip = encode_simulcast_clip()
    members = [Member(url, token, clip) for token in tokens]
    try:
        for member in members:
            await member.join()
        say(joined=[m.participant_id for m in members])
        await asyncio.wait_for(asyncio.gather(*(m.publish() for m in members)), CONNECT_TIMEOUT_S)
        await asyncio.wait_for(asyncio.gather(*(m.connected() for m in members)), CONNECT_TIMEOUT_S)
        say(ready=[m.participant_id for m in members])
        # Until the test closes our standard input.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    finally:
        await asyncio.gather(*(m.close() for m in members), return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], sys.argv[2:]))
