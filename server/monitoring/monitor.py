"""The operators' view of the deployment, sampled about once a second.

Each sample reads the rooms (through the domain), the media plane's connection
figures and the process load, rates connections, evaluates alerts, extends each
room's short history (for the page's charts) and updates the Prometheus metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable

from rooms import Clock, Room, RoomStore
from server.metrics import Metrics
from server.monitoring.alerts import (
    AlertRules,
    ConnectionObservation,
    Observation,
    RoomObservation,
)
from server.monitoring.load import LoadSample, LoadSampler
from server.monitoring.pseudonyms import Pseudonyms
from server.monitoring.rating import QualitySource, Rating, rate
from server.monitoring.views import (
    AlertView,
    HistoryPoint,
    MonitorSnapshot,
    ParticipantHealth,
    RoomDetail,
    RoomHealth,
    ServerHealth,
)

logger = logging.getLogger(__name__)

HISTORY_S = 300.0
_RATING_ORDER = (Rating.GOOD, Rating.FAIR, Rating.POOR)

SnapshotListener = Callable[[MonitorSnapshot], Awaitable[None]]


class Monitor:
    def __init__(
        self,
        store: RoomStore,
        clock: Clock,
        pseudonyms: Pseudonyms,
        metrics: Metrics,
        quality: QualitySource | None,
        load: LoadSampler,
        interval_s: float = 1.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._pseudonyms = pseudonyms
        self._metrics = metrics
        self._quality = quality
        self._load = load
        self._interval_s = interval_s
        self._rules = AlertRules()
        self._history: dict[str, deque[HistoryPoint]] = {}
        self._last_packets_out: tuple[float, int] | None = None
        self._listeners: list[SnapshotListener] = []
        self.latest = self._empty_snapshot()

    def on_snapshot(self, listener: SnapshotListener) -> None:
        self._listeners.append(listener)

    def room_by_ref(self, room_ref: str) -> Room | None:
        for room in self._store:
            if self._pseudonyms.room(room.room_id) == room_ref:
                return room
        return None

    async def running(self) -> AsyncIterator[None]:
        """For aiohttp's cleanup_ctx: sample until the app stops."""
        self._load.start()
        task = asyncio.create_task(self._run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await self._load.stop()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                snapshot = self.sample()
                for listener in self._listeners:
                    await listener(snapshot)
            except Exception:
                logger.exception("monitoring sample failed")

    def sample(self) -> MonitorSnapshot:
        now = self._clock.now()
        load = self._load.sample()
        live = [room for room in self._store if not room.ended]
        details = [self._room_detail(room, now) for room in live]
        self._forget_history(keep={d.room_ref for d in details})
        server = self._server_health(load, live, now)
        observation = Observation(
            rooms=tuple(
                RoomObservation(
                    room_ref=detail.room_ref,
                    facilitator_gone=room.left_without_facilitator(),
                    overtime=room.schedule.overtime(now),
                )
                for room, detail in zip(live, details, strict=True)
            ),
            connections=tuple(
                ConnectionObservation(
                    detail.room_ref,
                    person.participant_ref,
                    _worst(person.loss_up_pct, person.loss_down_pct),
                    person.rtt_ms,
                    over_budget=person.media_budget_exceeded,
                )
                for detail in details
                for person in detail.people
            ),
            cpu_ratio=load.cpu_ratio,
            event_loop_lag_ms=load.event_loop_lag_ms,
        )
        alerts = [
            AlertView(
                kind=a.kind,
                room_ref=a.room_ref,
                participant_ref=a.participant_ref,
                since=a.since,
                message=a.message,
            )
            for a in self._rules.evaluate(observation, now)
        ]
        self._record_metrics(details, load)
        self.latest = MonitorSnapshot(at=now, server=server, rooms=details, alerts=alerts)
        return self.latest

    def _room_detail(self, room: Room, now: float) -> RoomDetail:
        room_ref = self._pseudonyms.room(room.room_id)
        people = [self._participant_health(room, p.id) for p in room.admitted()]
        ratings = [p.rating for p in people if p.rating is not None]
        bitrate_up = sum(p.bitrate_up_kbps or 0.0 for p in people)
        bitrate_down = sum(p.bitrate_down_kbps or 0.0 for p in people)
        loss = max((_worst(p.loss_up_pct, p.loss_down_pct) or 0.0 for p in people), default=0.0)
        history = self._history.setdefault(room_ref, deque(maxlen=int(HISTORY_S)))
        history.append(
            HistoryPoint(
                at=now, bitrate_up_kbps=bitrate_up, bitrate_down_kbps=bitrate_down, loss_pct=loss
            )
        )
        return RoomDetail(
            room_ref=room_ref,
            started_at=room.started_at,
            scheduled_end=room.schedule.ends_at,
            participants=len(people),
            waiting=sum(1 for _ in room.waiting()),
            facilitator_present=room.facilitators_present(),
            rating=max(ratings, key=_RATING_ORDER.index) if ratings else None,
            bitrate_up_kbps=bitrate_up,
            bitrate_down_kbps=bitrate_down,
            loss_pct=loss,
            people=people,
            history=list(history),
        )

    def _participant_health(self, room: Room, participant_id: str) -> ParticipantHealth:
        participant = room.participant(participant_id)
        quality = (
            self._quality.connection_quality(room.room_id, participant_id)
            if self._quality is not None
            else None
        )
        health = ParticipantHealth(
            participant_ref=self._pseudonyms.participant(room.room_id, participant_id),
            role=participant.role,
            state=participant.state.label,
            rating=rate(quality) if quality is not None else None,
            rtt_ms=quality.rtt_ms if quality else None,
            jitter_ms=quality.jitter_ms if quality else None,
            loss_up_pct=quality.loss_up_pct if quality else None,
            loss_down_pct=quality.loss_down_pct if quality else None,
            bitrate_up_kbps=quality.bitrate_up_kbps if quality else None,
            bitrate_down_kbps=quality.bitrate_down_kbps if quality else None,
            candidate_type=quality.candidate_type if quality else None,
            media_budget_exceeded=quality.media_budget_exceeded if quality else False,
        )
        if quality is not None:
            health.video_layers_received = dict(quality.video_layers_received)
            health.videos_paused = dict(quality.videos_paused)
            health.layers_published = list(quality.layers_published)
            health.downlink_estimate_kbps = quality.downlink_estimate_kbps
        return health

    def _server_health(self, load: LoadSample, live: list[Room], now: float) -> ServerHealth:
        packets_per_s, consumers = 0.0, 0
        if self._quality is not None:
            totals = self._quality.forwarding_totals()
            consumers = totals.consumers
            if self._last_packets_out is not None:
                then, before = self._last_packets_out
                if now > then:
                    packets_per_s = (totals.packets_out - before) / (now - then)
            self._last_packets_out = (now, totals.packets_out)
        admitted = sum(1 for room in live for _ in room.admitted())
        return ServerHealth(
            cpu_ratio=load.cpu_ratio,
            memory_bytes=load.memory_bytes,
            event_loop_lag_ms=load.event_loop_lag_ms,
            forwarded_packets_per_s=packets_per_s,
            consumers=consumers,
            rooms=len(live),
            participants=admitted,
        )

    def _record_metrics(self, details: list[RoomDetail], load: LoadSample) -> None:
        metrics = self._metrics
        metrics.event_loop_lag.set(load.event_loop_lag_ms / 1000)
        people = [p for detail in details for p in detail.people]
        for direction, values in (
            ("up", [p.loss_up_pct for p in people if p.loss_up_pct is not None]),
            ("down", [p.loss_down_pct for p in people if p.loss_down_pct is not None]),
        ):
            mean = sum(values) / len(values) / 100 if values else 0.0
            worst = max(values, default=0.0) / 100
            metrics.packet_loss.labels(direction=direction, aggregate="mean").set(mean)
            metrics.packet_loss.labels(direction=direction, aggregate="max").set(worst)
        for person in people:
            if person.rtt_ms is not None:
                metrics.round_trip_time.observe(person.rtt_ms / 1000)

    def _forget_history(self, keep: set[str]) -> None:
        for room_ref in list(self._history):
            if room_ref not in keep:
                del self._history[room_ref]

    def _empty_snapshot(self) -> MonitorSnapshot:
        server = ServerHealth(
            cpu_ratio=0,
            memory_bytes=0,
            event_loop_lag_ms=0,
            forwarded_packets_per_s=0,
            consumers=0,
            rooms=0,
            participants=0,
        )
        return MonitorSnapshot(at=self._clock.now(), server=server, rooms=[], alerts=[])

    def room_summaries(self) -> list[RoomHealth]:
        return [
            RoomHealth(**detail.model_dump(exclude={"people", "history"}))
            for detail in self.latest.rooms
        ]


def _worst(*values: float | None) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None
