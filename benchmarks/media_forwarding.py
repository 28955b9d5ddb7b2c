"""Load benchmark of the media plane: the server in one process, the participants in another.

Prints one JSON object as its last line. The same run measures aiortc's
MediaRelay (decode once, encode per subscriber) as the baseline. This is the
one entry point (``groupsession bench`` runs it from a source checkout):

    .venv/bin/python -m benchmarks.media_forwarding --participants 8 --duration 10

With ``--simulcast`` it measures simulcast instead (issue 17): publishers that
send their cameras as Chrome does (benchmarks/simulcast.py), each subscriber
showing a grid with one speaker large and everyone else as a thumbnail; see
``run_simulcast_benchmark``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from multiprocessing.connection import Connection
from typing import Any

from benchmarks.load import Clip, LoadClient, encode_clip, until
from benchmarks.measures import bounded, percentile, udp_receive_buffer_errors
from benchmarks.relay_baseline import MediaRelayBaseline
from benchmarks.simulcast import (
    CountingSubscriber,
    LayerWatch,
    SimulcastClip,
    SimulcastPublisher,
    encode_simulcast_clip,
)
from server.sfu.plane import RtpForwardingMediaPlane
from signaling.media import (
    ConnectionProblem,
    ForwardedTrack,
    ReceivedVideo,
    SessionDescription,
    TileView,
    TrackKind,
)

logger = logging.getLogger(__name__)

ROOM = "bench"
CONNECT_TIMEOUT_S = 40.0
WARMUP_S = 1.0
# A benchmark's load is bounded: a room of 2-30, 1-600 s of steady load.
PARTICIPANTS_RANGE = (2, 30)
DURATION_RANGE_S = (1.0, 600.0)


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


class _PipeLink:
    """A load participant's ServerLink: requests down one pipe, answers back up the other."""

    def __init__(self, requests: _PipeWriter) -> None:
        self._requests = requests
        self.answers: dict[str, asyncio.Future[str]] = {}

    async def publish(self, participant_id: str, offer_sdp: str) -> str:
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.answers[participant_id] = answer
        self._requests.send(("publish", participant_id, offer_sdp))
        # Bounded: a server that died must end the run, not hang it.
        return await asyncio.wait_for(answer, CONNECT_TIMEOUT_S)

    async def subscriber_answer(self, participant_id: str, answer_sdp: str, revision: int) -> None:
        self._requests.send(("subscriber_answer", participant_id, answer_sdp, revision))


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

    def media_failed(self, room_id: str, participant_id: str) -> None:
        pass

    def video_forwarding_changed(
        self, room_id: str, participant_id: str, videos: Sequence[ReceivedVideo]
    ) -> None:
        # The load clients count what arrives; the plane's account of it is not measured.
        pass

    def publish_layers_changed(
        self, room_id: str, participant_id: str, active: Mapping[str, bool]
    ) -> None:
        # Simulcast publishers pause what nobody receives, as a browser would.
        self._events.send(("publish_layers", participant_id, dict(active)))


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
    sent_at_start: dict[str, int] = {}
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
        elif op == "view":
            tiles = [TileView(p, v, w, h) for p, v, w, h in message[2]]
            plane.set_view(ROOM, message[1], tiles)
        elif op == "priority":
            plane.set_video_priority(ROOM, message[1])
        elif op == "subscriber_answer":
            answer_sdp = SessionDescription(message[2], "answer")
            await plane.accept_subscriber_answer(ROOM, message[1], answer_sdp, message[3])
        elif op == "measure_start":
            sent_at_start = _bytes_sent_to(plane)
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
                        "latency_ms": [percentile(latencies, q) for q in (0.5, 0.95, 0.99)],
                        # Publisher -> server gaps, before retransmission: loss the
                        # server did not cause (clients' sends, or its own socket).
                        "ingress_loss_pct": ingress_loss_pct,
                        "consumers": plane.forwarding_totals().consumers
                        if mode == "forwarding"
                        else None,
                        # RTP bytes sent to each subscriber over the window (before SRTP).
                        "bytes_sent_to": {
                            pid: sent - sent_at_start.get(pid, 0)
                            for pid, sent in _bytes_sent_to(plane).items()
                        },
                    },
                )
            )
        elif op == "quit":
            await plane.close()
            events.send(("bye",))
            return


def _bytes_sent_to(plane: Any) -> dict[str, int]:
    """RTP bytes the forwarding plane has sent each subscriber so far (the baseline: none)."""
    if not isinstance(plane, RtpForwardingMediaPlane):
        return {}
    return plane.bytes_sent_to(ROOM)


async def _drive(
    participants: int,
    duration_s: float,
    clip: Clip,
    requests: _PipeWriter,
    events: Connection,
    late_joiner: bool,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    link = _PipeLink(requests)
    clients: dict[str, LoadClient] = {}
    measured: asyncio.Future[dict[str, Any]] = loop.create_future()
    done: asyncio.Future[None] = loop.create_future()
    tasks: set[asyncio.Task[None]] = set()

    async def read_events() -> None:
        while True:
            event = await loop.run_in_executor(None, events.recv)
            if event[0] == "answer":
                link.answers.pop(event[1]).set_result(event[2])
            elif event[0] == "offer":
                tracks = [ForwardedTrack(m, p, TrackKind(k)) for m, p, k in event[4]]
                task = loop.create_task(clients[event[1]].take_offer(event[2], event[3], tracks))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            elif event[0] == "publish_layers":
                pass  # one stream per publisher here: nothing to pause
            elif event[0] == "measured":
                measured.set_result(event[1])
            elif event[0] == "bye":
                done.set_result(None)
                return

    reader = loop.create_task(read_events())
    ids = [f"p-{i}" for i in range(participants)]
    for pid in ids:
        clients[pid] = LoadClient(pid, clip, link)
        await clients[pid].publish()
    for pid in ids:
        requests.send(("subscribe", pid))
    await until(
        lambda: all(clients[p].receiving_from_all([o for o in ids if o != p]) for p in ids),
        CONNECT_TIMEOUT_S,
        "every participant receiving every other's video",
    )
    await asyncio.sleep(WARMUP_S)
    for client in clients.values():
        for stream in client.streams.values():
            stream.counting = True
    drops_before = udp_receive_buffer_errors()
    load_started = (time.perf_counter(), os.times())
    requests.send(("measure_start",))
    await asyncio.sleep(duration_s)
    requests.send(("measure_stop",))
    load_times = os.times()
    drops_after = udp_receive_buffer_errors()
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
        late = LoadClient("late", clip, link)
        clients["late"] = late
        await late.publish()
        requests.send(("subscribe", "late"))
        await until(lambda: late.receiving_from_all(ids), 10, "the late joiner's video")
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


def parser() -> argparse.ArgumentParser:
    arguments = argparse.ArgumentParser(
        prog="python -m benchmarks.media_forwarding",
        description="Measure the media plane; prints one JSON object as its last line.",
    )
    arguments.add_argument(
        "--participants",
        type=bounded(int, *PARTICIPANTS_RANGE),
        default=None,
        help="participants in the room, 2-30 (default 8; with --simulcast 15)",
    )
    arguments.add_argument(
        "--duration",
        type=bounded(float, *DURATION_RANGE_S),
        default=10.0,
        help="seconds of steady load, 1-600 (default 10)",
    )
    arguments.add_argument(
        "--simulcast",
        action="store_true",
        help="measure simulcast publishers in a grid instead (default room of 15)",
    )
    arguments.add_argument(
        "--baseline-participants",
        type=bounded(int, 2, 4),
        default=3,
        help="participants for the MediaRelay baseline, 2-4 (default 3: it transcodes)",
    )
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    figures: dict[str, object]
    if args.simulcast:
        figures = run_simulcast_benchmark(int(args.participants or 15), float(args.duration))
    else:
        figures = run_benchmark(
            int(args.participants or 8), float(args.duration), int(args.baseline_participants)
        )
    print(json.dumps(figures))
    return 0


# The simulcast run (issue 17): a grid of thumbnails and one speaker large, as a
# laptop shows a room of 15 (device pixels).
SPEAKER_TILE = (960, 540)
THUMBNAIL_TILE = (192, 108)
# Dynacast pauses a layer after 5 s unwanted: the measurement starts once it has.
SIMULCAST_SETTLE_S = 7.0
LAYER_UP_PROBES = 12
LAYER_UP_TIMEOUT_S = 5.0
# The goals, printed beside the figures.
SUBSCRIBER_GOAL_BPS = 2_500_000
LAYER_UP_GOAL_MS = 1000.0
LATE_JOINER_GOAL_MS = 500.0


def _has_width(watch: LayerWatch, width: int) -> bool:
    return width in watch.first_at_width


def _grid(subscriber: str, ids: list[str], large: str) -> list[tuple[str, bool, int, int]]:
    return [
        (p, True, *(SPEAKER_TILE if p == large else THUMBNAIL_TILE)) for p in ids if p != subscriber
    ]


async def _drive_simulcast(
    participants: int,
    duration_s: float,
    clip: SimulcastClip,
    requests: _PipeWriter,
    events: Connection,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    link = _PipeLink(requests)
    publishers: dict[str, SimulcastPublisher] = {}
    subscribers: dict[str, CountingSubscriber] = {}
    measured: asyncio.Future[dict[str, Any]] = loop.create_future()
    done: asyncio.Future[None] = loop.create_future()
    tasks: set[asyncio.Task[None]] = set()

    async def read_events() -> None:
        while True:
            event = await loop.run_in_executor(None, events.recv)
            if event[0] == "answer":
                link.answers.pop(event[1]).set_result(event[2])
            elif event[0] == "offer":
                tracks = {m: (p, k) for m, p, k in event[4]}
                task = loop.create_task(
                    subscribers[event[1]].take_offer(event[2], event[3], tracks)
                )
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            elif event[0] == "publish_layers":
                publisher = publishers.get(event[1])
                if publisher is not None:
                    publisher.set_active(event[2])
            elif event[0] == "measured":
                measured.set_result(event[1])
            elif event[0] == "bye":
                done.set_result(None)
                return

    async def join(pid: str) -> None:
        async def send_offer(sdp: str) -> str:
            return await link.publish(pid, sdp)

        async def answer(sdp: str, revision: int) -> None:
            await link.subscriber_answer(pid, sdp, revision)

        publishers[pid] = SimulcastPublisher(clip)
        subscribers[pid] = CountingSubscriber(pid, answer)
        # As the web client does (web_client/src/media/peers.ts start()): subscribe
        # first, then publish, so a joiner's first video does not wait for her own
        # publish connection.
        requests.send(("subscribe", pid))
        await publishers[pid].publish(send_offer)

    reader = loop.create_task(read_events())
    ids = [f"p-{i}" for i in range(participants)]
    speaker = ids[0]
    for pid in ids:
        await join(pid)
    requests.send(("priority", [speaker]))
    for pid in ids:
        requests.send(("view", pid, _grid(pid, ids, speaker)))
    await until(
        lambda: all(subscribers[p].receiving_from([o for o in ids if o != p]) for p in ids),
        CONNECT_TIMEOUT_S,
        "every participant receiving every other's video",
    )
    await asyncio.sleep(SIMULCAST_SETTLE_S)  # dynacast pauses the unwanted layers
    drops_before = udp_receive_buffer_errors()
    load_started = (time.perf_counter(), os.times())
    requests.send(("measure_start",))
    await asyncio.sleep(duration_s)
    requests.send(("measure_stop",))
    load_times = os.times()
    drops_after = udp_receive_buffer_errors()
    server = await asyncio.wait_for(measured, CONNECT_TIMEOUT_S)
    server["udp_receive_buffer_drops"] = (
        None if drops_before is None or drops_after is None else drops_after - drops_before
    )
    load_cpu = (load_times.user - load_started[1].user) + (
        load_times.system - load_started[1].system
    )
    server["load_cpu_cores"] = load_cpu / (time.perf_counter() - load_started[0])

    # Layer up: a subscriber enlarges a thumbnail; how long until the full layer's
    # first keyframe arrives (its publisher had paused that layer: dynacast resumes it).
    layer_up_ms: list[float] = []
    for probe in range(LAYER_UP_PROBES):
        viewer = ids[1 + probe % (participants - 1)]
        shown = ids[1 + (probe + 1) % (participants - 1)]
        watch = subscribers[viewer].watch(shown)
        watch.first_at_width.clear()
        watch.watch_from = asked = time.monotonic()
        requests.send(("view", viewer, _grid(viewer, ids, shown)))
        full_width = partial(_has_width, watch, 640)
        try:
            await until(full_width, LAYER_UP_TIMEOUT_S, "layer up")
            layer_up_ms.append((watch.first_at_width[640] - asked) * 1000)
        except TimeoutError:
            layer_up_ms.append(LAYER_UP_TIMEOUT_S * 1000)
        watch.watch_from = None
        requests.send(("view", viewer, _grid(viewer, ids, speaker)))
        await asyncio.sleep(0.5)  # the probes one after another, not all at once

    joined_at = time.monotonic()
    await join("late")
    # Where the time goes: her subscribe connection (offer, answer, ICE, DTLS), then
    # each publisher's first keyframe of the lowest layer.
    late_pc = subscribers["late"].pc
    await until(lambda: late_pc.connectionState == "connected", 10, "the late joiner's link")
    late_connected_ms = (time.monotonic() - joined_at) * 1000
    await until(lambda: subscribers["late"].receiving_from(ids), 10, "the late joiner's video")
    firsts = [w.first_packet_at for p in ids if (w := subscribers["late"].video.get(p))]
    late_ms = (max(f for f in firsts if f is not None) - joined_at) * 1000

    requests.send(("quit",))
    await done
    reader.cancel()
    for task in tasks:
        task.cancel()  # an offer still being answered: the connections close now
    for publisher in publishers.values():
        await publisher.close()
    await asyncio.gather(*(s.close() for s in subscribers.values()))
    server["layer_up_ms"] = layer_up_ms
    server["late_joiner_first_video_ms"] = late_ms
    server["late_joiner_connected_ms"] = late_connected_ms
    return server


def run_simulcast_benchmark(participants: int = 15, duration_s: float = 10.0) -> dict[str, object]:
    """Simulcast publishers in a grid (one speaker large): what each subscriber is sent,
    forwarded tracks per core, layer-up time and a late joiner's first video."""
    clip = encode_simulcast_clip()
    context = multiprocessing.get_context("spawn")
    requests_out, requests_in = context.Pipe(duplex=False)
    events_out, events_in = context.Pipe(duplex=False)
    process = context.Process(
        target=_serve, args=("forwarding", requests_out, events_in), daemon=True
    )
    process.start()
    requests = _PipeWriter(requests_in)
    try:
        server = asyncio.run(_drive_simulcast(participants, duration_s, clip, requests, events_out))
    finally:
        requests.close()
        process.join(timeout=15)
        if process.is_alive():
            process.kill()
    cores = server["cpu_s"] / server["wall_s"]
    per_subscriber = sorted(
        sent * 8 / server["wall_s"] for pid, sent in server["bytes_sent_to"].items()
    )
    up = server["layer_up_ms"]
    consumers = server["consumers"]
    return {
        "mode": "simulcast",
        "participants": participants,
        "duration_s": duration_s,
        "grid": {"speaker_tile": SPEAKER_TILE, "thumbnail_tile": THUMBNAIL_TILE},
        "forwarded_tracks": consumers,
        "server_cpu_cores": round(cores, 4),
        "forwarded_tracks_per_core": round(consumers / cores, 1) if cores else None,
        "subscriber_bps": {
            "min": round(per_subscriber[0]),
            "median": round(per_subscriber[len(per_subscriber) // 2]),
            "max": round(per_subscriber[-1]),
            "goal_max": SUBSCRIBER_GOAL_BPS,
        },
        "layer_up_ms": {
            "p50": round(percentile(up, 0.5), 1),
            "p95": round(percentile(up, 0.95), 1),
            "max": round(max(up), 1),
            "goal_p95": LAYER_UP_GOAL_MS,
        },
        "late_joiner_first_video_ms": round(server["late_joiner_first_video_ms"], 1),
        "late_joiner_connected_ms": round(server["late_joiner_connected_ms"], 1),
        "late_joiner_goal_ms": LATE_JOINER_GOAL_MS,
        "ingress_loss_pct": round(server["ingress_loss_pct"], 3),
        "udp_receive_buffer_drops": server["udp_receive_buffer_drops"],
        "load_cpu_cores": round(server["load_cpu_cores"], 4),
        "note": "bytes per subscriber are RTP before SRTP, audio included; the load process "
        "shares the machine (load_cpu_cores near 1: it cannot keep up)",
    }


if __name__ == "__main__":
    raise SystemExit(main())
