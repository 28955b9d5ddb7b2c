"""A load participant (benchmarks.load) whose media is negotiated over its Socket.IO
connection to a real server process, as a browser's is: ``publish`` with its offer,
``subscribe``, and an answer to every ``subscriber_offer``.

Runs only inside a network namespace (benchmarks.netns): aioice skips loopback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import socketio
from aiortc import RTCPeerConnection

from benchmarks.load import Clip, LoadClient, StreamCount
from signaling.media import ForwardedTrack, TrackKind

NEGOTIATION_TIMEOUT_S = 30.0


class MediaRefused(Exception):
    """The server refused a media request (its error code is the message)."""


class SocketLink:
    """A LoadClient's ServerLink over one Socket.IO connection; counts refusals."""

    def __init__(self, sio: socketio.AsyncClient) -> None:
        self._sio = sio
        self.refusals: list[str] = []

    async def publish(self, participant_id: str, offer_sdp: str) -> str:
        reply = await self._sio.call(
            "publish", {"sdp": offer_sdp, "type": "offer"}, timeout=NEGOTIATION_TIMEOUT_S
        )
        if not reply["ok"]:
            self.refusals.append(reply["error"]["code"])
            raise MediaRefused(reply["error"]["code"])
        answer: str = reply["sdp"]
        return answer

    async def subscriber_answer(self, participant_id: str, answer_sdp: str, revision: int) -> None:
        reply = await self._sio.call(
            "subscriber_answer",
            {"sdp": answer_sdp, "type": "answer", "revision": revision},
            timeout=NEGOTIATION_TIMEOUT_S,
        )
        if not reply["ok"]:
            self.refusals.append(reply["error"]["code"])


class SocketMediaClient:
    """Publishes the clip and subscribes to everyone else, over ``sio``.

    When the server reports ``media_failed``, or one of its own peer connections
    fails, it recovers as the protocol says a client does (docs/protocol.md, "Media
    recovery"): new peer connections, ``restart_media``, then publish and subscribe
    anew. Each failure is kept in ``failures``, each recovery counted.
    """

    def __init__(self, sio: socketio.AsyncClient, participant_id: str, clip: Clip) -> None:
        self.sio = sio
        self.link = SocketLink(sio)
        self._clip = clip
        self.load = LoadClient(participant_id, clip, self.link)
        self.failures: list[str] = []
        self.recoveries = 0
        self._recovering: asyncio.Task[None] | None = None
        self._closed = False
        self._offers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._answering: asyncio.Task[None] | None = None
        sio.on("subscriber_offer", self._offered)
        sio.on("media_failed", self._failed)

    async def start(self) -> None:
        """Publish, then subscribe; offers are answered one at a time, in order."""
        if self._answering is None:
            self._answering = asyncio.get_running_loop().create_task(self._answer_offers())
        for pc in (self.load.publish_pc, self.load.subscribe_pc):
            pc.on("connectionstatechange", self._state_changed(pc))
        await self.load.publish()
        reply = await self.sio.call("subscribe", {}, timeout=NEGOTIATION_TIMEOUT_S)
        if not reply["ok"]:
            raise MediaRefused(reply["error"]["code"])

    def _state_changed(self, pc: RTCPeerConnection) -> Callable[[], None]:
        def changed() -> None:
            if pc.connectionState == "failed" and pc in self._current_pcs():
                self.failures.append("peer connection failed")
                self._recover()

        return changed

    def _current_pcs(self) -> tuple[RTCPeerConnection, RTCPeerConnection]:
        return (self.load.publish_pc, self.load.subscribe_pc)

    def _recover(self) -> None:
        if self._closed or (self._recovering is not None and not self._recovering.done()):
            return
        self._recovering = asyncio.get_running_loop().create_task(self._restart())

    async def _restart(self) -> None:
        self.recoveries += 1
        old = self.load
        self.load = LoadClient(old.participant_id, self._clip, self.link)
        while not self._offers.empty():  # offers for the old connection
            self._offers.get_nowait()
        await old.close()
        try:
            reply = await self.sio.call("restart_media", {}, timeout=NEGOTIATION_TIMEOUT_S)
            if not reply["ok"]:
                raise MediaRefused(reply["error"]["code"])
            await self.start()
        except Exception as error:  # reported, and the benchmark counts it
            self.failures.append(f"recovery: {error!r}")

    async def _offered(self, data: dict[str, Any]) -> None:
        # Handlers run in the connection's read loop: answering there would wait on
        # an acknowledgement that loop has to read.
        self._offers.put_nowait(data)

    async def _failed(self, data: dict[str, Any]) -> None:
        self.failures.append("media_failed")
        self._recover()

    async def _answer_offers(self) -> None:
        while True:
            offer = await self._offers.get()
            tracks = [
                ForwardedTrack(t["mid"], t["participant_id"], TrackKind(t["kind"]))
                for t in offer["tracks"]
            ]
            try:
                await self.load.take_offer(offer["sdp"], offer["revision"], tracks)
            except Exception as error:  # reported, and the benchmark counts it
                self.failures.append(f"subscriber offer: {error!r}")

    def stream_from(self, publisher: str, kind: TrackKind) -> StreamCount | None:
        for mid, track in self.load.tracks.items():
            if track.participant_id == publisher and track.kind is kind:
                return self.load.streams.get(mid)
        return None

    def receives_from(self, publisher: str, at_least: int = 5) -> bool:
        """``publisher``'s video has reached this client (``at_least`` packets of it)."""
        stream = self.stream_from(publisher, TrackKind.VIDEO)
        return stream is not None and stream.seen >= at_least

    def packets_received(self) -> int:
        return sum(s.seen for s in self.load.streams.values())

    async def close(self) -> None:
        self._closed = True
        if self._answering is not None:
            self._answering.cancel()
        if self._recovering is not None:
            self._recovering.cancel()
        await self.load.close()
