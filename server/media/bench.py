"""Load benchmark of the media plane: the server in one process, the participants in another.

Participants send pre-encoded media (a clip encoded once, its packets
replayed) and count what they receive without decoding, so the load process
stays light and the server's CPU is what is measured. The same run measures
aiortc's MediaRelay (decode once, encode per subscriber) as the baseline.
"""

from __future__ import annotations

import array
import asyncio
import fractions
import logging
import math
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import av
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCSessionDescription,
)

from server.media import aiortc_internals as internals
from server.media.aiortc_internals import RtpPacket
from server.media.bench_baseline import MediaRelayBaseline
from server.media.plane import RtpForwardingMediaPlane
from signaling.media import ConnectionProblem, ForwardedTrack, SessionDescription, TrackKind

logger = logging.getLogger(__name__)

ROOM = "bench"
VIDEO_FPS = 30
VIDEO_BITRATE = 600_000
CLIP_FRAMES = 60
AUDIO_FRAME_SAMPLES = 960
CONNECT_TIMEOUT_S = 40.0
WARMUP_S = 1.0


@dataclass(frozen=True)
class Clip:
    """Pre-encoded media: VP8 frames (frame 0 the only keyframe) and 20 ms Opus frames."""

    video: list[bytes]
    audio: list[bytes]


def encode_clip() -> Clip:
    video = av.CodecContext.create("libvpx", "w")
    video.width, video.height, video.pix_fmt = 640, 480, "yuv420p"
    video.bit_rate = VIDEO_BITRATE
    video.framerate = fractions.Fraction(VIDEO_FPS, 1)
    video.time_base = fractions.Fraction(1, VIDEO_FPS)
    video.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0", "g": "100000"}
    # A moving gradient with a noisy patch: enough detail to need ~600 kbps.
    row = bytes(range(256)) * 4
    frames: list[bytes] = []
    for i in range(CLIP_FRAMES):
        frame = av.VideoFrame(640, 480, "yuv420p")
        luma = bytearray(b"".join(row[(i * 3 + r) % 256 :][:640] for r in range(480)))
        for r in range(100, 160):
            luma[r * 640 + 200 : r * 640 + 300] = os.urandom(100)
        frame.planes[0].update(bytes(luma))
        frame.planes[1].update(bytes([100]) * frame.planes[1].buffer_size)
        frame.planes[2].update(bytes([150]) * frame.planes[2].buffer_size)
        frame.pts = i
        frames.extend(bytes(p) for p in video.encode(frame))
    audio = av.CodecContext.create("libopus", "w")
    audio.sample_rate, audio.layout, audio.format, audio.bit_rate = 48000, "stereo", "s16", 32000
    packets: list[bytes] = []
    for i in range(50):
        chunk = av.AudioFrame(format="s16", layout="stereo", samples=AUDIO_FRAME_SAMPLES)
        chunk.sample_rate = 48000
        chunk.pts = i * AUDIO_FRAME_SAMPLES
        samples = (
            int(8000 * math.sin(2 * math.pi * 440 * (i * AUDIO_FRAME_SAMPLES + n // 2) / 48000))
            for n in range(2 * AUDIO_FRAME_SAMPLES)
        )
        chunk.planes[0].update(array.array("h", samples).tobytes())
        packets.extend(bytes(p) for p in audio.encode(chunk))
    return Clip(video=frames, audio=packets)


class ReplayTrack(MediaStreamTrack):
    """Replays pre-encoded packets in real time; a keyframe request restarts the clip."""

    def __init__(self, kind: TrackKind, packets: list[bytes]) -> None:
        super().__init__()
        self.kind = kind.value
        self._packets = packets
        self._rate = 90000 if kind is TrackKind.VIDEO else 48000
        self._step = 90000 // VIDEO_FPS if kind is TrackKind.VIDEO else AUDIO_FRAME_SAMPLES
        self._index = 0
        self._pts = 0
        self._start: float | None = None

    def restart_at_keyframe(self) -> None:
        self._index = 0

    async def recv(self) -> av.Packet[Any]:
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += self._step
            wait = self._start + self._pts / self._rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        data = self._packets[self._index]
        # Loop over the clip's frames after the keyframe (the keyframe only on request).
        self._index = self._index + 1 if self._index + 1 < len(self._packets) else 1
        packet = av.Packet(data)
        packet.pts = self._pts
        packet.time_base = fractions.Fraction(1, self._rate)
        return packet


@dataclass
class StreamCount:
    """Packets one client received on one forwarded track."""

    first_at: float | None = None
    counting: bool = False
    received: int = 0
    base: int | None = None
    highest: int = 0
    _cycles: int = 0
    _last_seq: int | None = None

    def add(self, seq: int) -> None:
        if self.first_at is None:
            self.first_at = time.monotonic()
        if self._last_seq is not None and seq < 0x4000 and self._last_seq > 0xC000:
            self._cycles += 0x10000
        self._last_seq = seq
        if not self.counting:
            return
        extended = self._cycles + seq
        if self.base is None:
            self.base = extended
        self.received += 1
        self.highest = max(self.highest, extended)

    @property
    def expected(self) -> int:
        return 0 if self.base is None else self.highest - self.base + 1


class _PipeWriter:
    """Sends on a pipe without blocking the event loop, in order.

    Both processes write to one pipe and read the other. A blocking send
    with the pipe full (a dozen participants' offers are more than its 64 KiB)
    would stop that process's loop, so it never reads the other pipe, whose
    writer then blocks too: a deadlock. One writer thread per pipe keeps the
    messages in order.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pipe-writer")

    def send(self, message: tuple[Any, ...]) -> None:
        self._thread.submit(self._connection.send, message).add_done_callback(_report_failure)

    def close(self) -> None:
        """Wait until every message has been sent."""
        self._thread.shutdown(wait=True)


def _report_failure(sent: Future[None]) -> None:
    error = sent.exception()
    if error is not None:
        logger.error("benchmark pipe send failed: %r", error)


def _client_pc() -> RTCPeerConnection:
    return RTCPeerConnection(
        RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    )


@dataclass
class LoadClient:
    participant_id: str
    clip: Clip
    requests: _PipeWriter
    publish_pc: RTCPeerConnection = field(default_factory=_client_pc)
    subscribe_pc: RTCPeerConnection = field(default_factory=_client_pc)
    tracks: dict[str, ForwardedTrack] = field(default_factory=dict)
    streams: dict[str, StreamCount] = field(default_factory=dict)
    answer: asyncio.Future[str] | None = None
    _hooked: set[int] = field(default_factory=set)

    async def publish(self) -> None:
        video = ReplayTrack(TrackKind.VIDEO, self.clip.video)
        self.publish_pc.addTransceiver(ReplayTrack(TrackKind.AUDIO, self.clip.audio), "sendonly")
        sender = self.publish_pc.addTransceiver(video, "sendonly").sender
        internals.on_keyframe_request(sender, video.restart_at_keyframe)
        await self.publish_pc.setLocalDescription(await self.publish_pc.createOffer())
        self.answer = asyncio.get_running_loop().create_future()
        self.requests.send(("publish", self.participant_id, self.publish_pc.localDescription.sdp))
        sdp = await self.answer
        await self.publish_pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def take_offer(self, sdp: str, revision: int, tracks: list[ForwardedTrack]) -> None:
        self.tracks = {t.mid: t for t in tracks}
        await self.subscribe_pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        for transceiver in self.subscribe_pc.getTransceivers():
            if id(transceiver.receiver) not in self._hooked and transceiver.mid is not None:
                self._hooked.add(id(transceiver.receiver))
                self._count(transceiver.receiver, transceiver.mid)
        await self.subscribe_pc.setLocalDescription(await self.subscribe_pc.createAnswer())
        local = self.subscribe_pc.localDescription.sdp
        self.requests.send(("subscriber_answer", self.participant_id, local, revision))

    def _count(self, receiver: RTCRtpReceiver, mid: str) -> None:
        stream = self.streams.setdefault(mid, StreamCount())

        async def count(packet: RtpPacket, arrival_time_ms: int) -> None:
            stream.add(packet.sequence_number)

        internals.run_without_decoder(receiver, lambda parameters: None)
        internals.intercept_received_rtp(receiver, count, then_aiortc=False)

    def video_from(self, publisher: str) -> StreamCount | None:
        for mid, track in self.tracks.items():
            if track.participant_id == publisher and track.kind is TrackKind.VIDEO:
                return self.streams.get(mid)
        return None

    def receiving_from_all(self, publishers: list[str]) -> bool:
        return all(
            (s := self.video_from(p)) is not None and s.first_at is not None for p in publishers
        )

    async def close(self) -> None:
        await self.publish_pc.close()
        await self.subscribe_pc.close()


class _PipeSignals:
    def __init__(self, events: _PipeWriter) -> None:
        self._events = events

    async def send_subscriber_offer(
        self,
        room_id: str,
        participant_id: str,
        offer: SessionDescription,
        revision: int,
        tracks: list[ForwardedTrack],
    ) -> None:
        wire = [(t.mid, t.participant_id, t.kind.value) for t in tracks]
        self._events.send(("offer", participant_id, offer.sdp, revision, wire))

    def speaking_changed(self, room_id: str, participant_id: str, speaking: bool) -> None:
        pass

    def connection_problem(
        self, room_id: str, participant_id: str, problem: ConnectionProblem
    ) -> None:
        pass


def _percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _serve(mode: str, requests: Connection, events_pipe: Connection) -> None:
    events = _PipeWriter(events_pipe)
    try:
        asyncio.run(_serve_async(mode, requests, events))
    finally:
        events.close()


async def _serve_async(mode: str, requests: Connection, events: _PipeWriter) -> None:
    plane: Any = RtpForwardingMediaPlane() if mode == "forwarding" else MediaRelayBaseline()
    plane.attach(_PipeSignals(events))
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    started = (0.0, 0.0, 0.0)
    ingress_at_start = (0, 0)
    while True:
        message = await loop.run_in_executor(None, requests.recv)
        op = message[0]
        if op == "publish":
            answer = await plane.publish(ROOM, message[1], SessionDescription(message[2], "offer"))
            events.send(("answer", message[1], answer.sdp))
        elif op == "subscribe":
            await plane.subscribe(ROOM, message[1])
        elif op == "subscriber_answer":
            answer_sdp = SessionDescription(message[2], "answer")
            await plane.accept_subscriber_answer(ROOM, message[1], answer_sdp, message[3])
        elif op == "measure_start":
            plane.stats.packets_in = plane.stats.packets_out = 0
            latencies.clear()
            plane.stats.latency_observer = latencies.append
            if mode == "forwarding":
                ingress_at_start = plane.ingress_counts()
            times = os.times()
            started = (time.perf_counter(), times.user, times.system)
        elif op == "measure_stop":
            wall = time.perf_counter() - started[0]
            times = os.times()
            user, system = times.user - started[1], times.system - started[2]
            cpu = user + system
            plane.stats.latency_observer = None
            ingress_loss_pct = None
            if mode == "forwarding":
                expected, received = plane.ingress_counts()
                expected -= ingress_at_start[0]
                received -= ingress_at_start[1]
                ingress_loss_pct = 100.0 * (expected - received) / expected if expected else 0.0
            events.send(
                (
                    "measured",
                    {
                        "wall_s": wall,
                        "cpu_s": cpu,
                        "system_cpu_s": system,
                        "packets_in": plane.stats.packets_in,
                        "packets_out": plane.stats.packets_out,
                        "latency_ms": [_percentile(latencies, q) for q in (0.5, 0.95, 0.99)],
                        # Publisher -> server gaps, before retransmission: loss the
                        # server did not cause (clients' sends, or its own socket).
                        "ingress_loss_pct": ingress_loss_pct,
                    },
                )
            )
        elif op == "quit":
            await plane.close()
            events.send(("bye",))
            return


def _udp_receive_buffer_errors() -> int | None:
    """Datagrams the kernel dropped because a socket's receive buffer was full.

    System-wide (Linux /proc/net/snmp): other processes' UDP counts too.
    """
    try:
        with open("/proc/net/snmp") as snmp:
            udp = [line.split() for line in snmp if line.startswith("Udp:")]
    except OSError:
        return None
    if len(udp) < 2 or "RcvbufErrors" not in udp[0]:
        return None
    return int(udp[1][udp[0].index("RcvbufErrors")])


async def _until(predicate: Callable[[], bool], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark: timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _drive(
    participants: int,
    duration_s: float,
    clip: Clip,
    requests: _PipeWriter,
    events: Connection,
    late_joiner: bool,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    clients: dict[str, LoadClient] = {}
    measured: asyncio.Future[dict[str, Any]] = loop.create_future()
    done: asyncio.Future[None] = loop.create_future()
    tasks: set[asyncio.Task[None]] = set()

    async def read_events() -> None:
        while True:
            event = await loop.run_in_executor(None, events.recv)
            if event[0] == "answer":
                future = clients[event[1]].answer
                assert future is not None
                future.set_result(event[2])
            elif event[0] == "offer":
                tracks = [ForwardedTrack(m, p, TrackKind(k)) for m, p, k in event[4]]
                task = loop.create_task(clients[event[1]].take_offer(event[2], event[3], tracks))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            elif event[0] == "measured":
                measured.set_result(event[1])
            elif event[0] == "bye":
                done.set_result(None)
                return

    reader = loop.create_task(read_events())
    ids = [f"p-{i}" for i in range(participants)]
    for pid in ids:
        clients[pid] = LoadClient(pid, clip, requests)
        await clients[pid].publish()
    for pid in ids:
        requests.send(("subscribe", pid))
    await _until(
        lambda: all(clients[p].receiving_from_all([o for o in ids if o != p]) for p in ids),
        CONNECT_TIMEOUT_S,
        "every participant receiving every other's video",
    )
    await asyncio.sleep(WARMUP_S)
    for client in clients.values():
        for stream in client.streams.values():
            stream.counting = True
    drops_before = _udp_receive_buffer_errors()
    load_started = (time.perf_counter(), os.times())
    requests.send(("measure_start",))
    await asyncio.sleep(duration_s)
    requests.send(("measure_stop",))
    load_times = os.times()
    drops_after = _udp_receive_buffer_errors()
    for client in clients.values():
        for stream in client.streams.values():
            stream.counting = False
    server = await measured
    # The load process's own CPU: at 1 core it cannot keep up, and what it
    # misses shows as loss and kernel drops at its sockets, not the server's.
    load_cpu = (load_times.user - load_started[1].user) + (
        load_times.system - load_started[1].system
    )
    server["load_cpu_cores"] = load_cpu / (time.perf_counter() - load_started[0])
    received = sum(s.received for c in clients.values() for s in c.streams.values())
    expected = sum(s.expected for c in clients.values() for s in c.streams.values())
    server["loss_pct"] = 100.0 * max(expected - received, 0) / expected if expected else 0.0
    server["udp_receive_buffer_drops"] = (
        None if drops_before is None or drops_after is None else drops_after - drops_before
    )

    if late_joiner:
        joined_at = time.monotonic()
        late = LoadClient("late", clip, requests)
        clients["late"] = late
        await late.publish()
        requests.send(("subscribe", "late"))
        await _until(lambda: late.receiving_from_all(ids), 10, "the late joiner's video")
        firsts = [s.first_at for p in ids if (s := late.video_from(p)) and s.first_at]
        server["late_joiner_first_video_ms"] = round((max(firsts) - joined_at) * 1000, 1)

    requests.send(("quit",))
    await done
    reader.cancel()
    await asyncio.gather(*(c.close() for c in clients.values()))
    return server


def _run_scenario(
    mode: str, participants: int, duration_s: float, clip: Clip, late_joiner: bool
) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    requests_out, requests_in = context.Pipe(duplex=False)
    events_out, events_in = context.Pipe(duplex=False)
    server = context.Process(target=_serve, args=(mode, requests_out, events_in), daemon=True)
    server.start()
    requests = _PipeWriter(requests_in)
    try:
        return asyncio.run(
            _drive(participants, duration_s, clip, requests, events_out, late_joiner)
        )
    finally:
        requests.close()
        server.join(timeout=15)
        if server.is_alive():
            server.kill()


def run_benchmark(
    participants: int = 8, duration_s: float = 10.0, baseline_participants: int = 3
) -> dict[str, object]:
    """Measure forwarding for ``participants`` and MediaRelay for ``baseline_participants``."""
    clip = encode_clip()
    forwarding = _run_scenario("forwarding", participants, duration_s, clip, late_joiner=True)
    baseline = _run_scenario("relay", baseline_participants, duration_s, clip, late_joiner=False)

    def consumers(n: int) -> int:
        return n * (n - 1) * 2  # everyone's audio and video to everyone else

    cores = forwarding["cpu_s"] / forwarding["wall_s"]
    baseline_cores = baseline["cpu_s"] / baseline["wall_s"]
    per_consumer = cores / consumers(participants)
    baseline_per_consumer = baseline_cores / consumers(baseline_participants)
    p50, p95, p99 = forwarding["latency_ms"]
    return {
        "participants": participants,
        "consumers": consumers(participants),
        "duration_s": duration_s,
        "server_cpu_cores": round(cores, 4),
        # Kernel time: on loopback, sendto also runs the receiving side's
        # network stack, which a real NIC would not charge to the server.
        "server_system_cpu_cores": round(forwarding["system_cpu_s"] / forwarding["wall_s"], 4),
        "consumers_per_core": round(consumers(participants) / cores, 1),
        "packets_in_per_s": round(forwarding["packets_in"] / forwarding["wall_s"], 1),
        "packets_out_per_s": round(forwarding["packets_out"] / forwarding["wall_s"], 1),
        "loss_pct": round(forwarding["loss_pct"], 3),
        "ingress_loss_pct": round(forwarding["ingress_loss_pct"], 3),
        "udp_receive_buffer_drops": forwarding["udp_receive_buffer_drops"],
        "load_cpu_cores": round(forwarding["load_cpu_cores"], 4),
        "added_latency_ms": {"p50": round(p50, 2), "p95": round(p95, 2), "p99": round(p99, 2)},
        "late_joiner_first_video_ms": forwarding.get("late_joiner_first_video_ms"),
        "baseline": {
            "participants": baseline_participants,
            "consumers": consumers(baseline_participants),
            "server_cpu_cores": round(baseline_cores, 4),
            "consumers_per_core": round(consumers(baseline_participants) / baseline_cores, 1),
            "loss_pct": round(baseline["loss_pct"], 3),
        },
        "cpu_per_consumer_ratio_vs_baseline": round(baseline_per_consumer / per_consumer, 1),
        "latency_note": "arrival = aiortc's whole-ms arrival stamp, so figures are upper bounds",
    }
