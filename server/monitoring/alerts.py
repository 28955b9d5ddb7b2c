"""Alert rules for operators. Pure: observations and times in, active alerts out.

An alert is raised when its condition holds (for participant connections: for
``sustain_s`` without a break) and clears as soon as the condition does.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

PARTICIPANT_LOSS_PCT = 5.0
PARTICIPANT_RTT_MS = 400.0
PARTICIPANT_SUSTAIN_S = 10.0
SERVER_CPU_RATIO = 0.8
EVENT_LOOP_LAG_MS = 100.0


class AlertKind(StrEnum):
    FACILITATOR_DISCONNECTED = "facilitator_disconnected"
    POOR_CONNECTION = "poor_connection"
    ROOM_OVERTIME = "room_overtime"
    SERVER_CPU = "server_cpu"
    EVENT_LOOP_LAG = "event_loop_lag"
    MEDIA_BUDGET_EXCEEDED = "media_budget_exceeded"


@dataclass(frozen=True, slots=True)
class RoomObservation:
    room_ref: str
    facilitator_gone: bool  # members remain, every facilitator has left
    overtime: bool  # past its scheduled end and still running


@dataclass(frozen=True, slots=True)
class ConnectionObservation:
    room_ref: str
    participant_ref: str
    loss_pct: float | None  # the worse of up and down
    rtt_ms: float | None
    # Their publish connection went over its packets/bytes per second ceiling lately.
    over_budget: bool = False


@dataclass(frozen=True, slots=True)
class Observation:
    rooms: tuple[RoomObservation, ...]
    connections: tuple[ConnectionObservation, ...]
    cpu_ratio: float
    event_loop_lag_ms: float


@dataclass(frozen=True, slots=True)
class Alert:
    kind: AlertKind
    room_ref: str | None
    participant_ref: str | None
    since: float
    message: str  # ids and figures only, never names


class AlertRules:
    def __init__(self, sustain_s: float = PARTICIPANT_SUSTAIN_S) -> None:
        self._sustain_s = sustain_s
        self._first_seen: dict[tuple[AlertKind, str | None, str | None], float] = {}

    def evaluate(self, observation: Observation, now: float) -> list[Alert]:
        conditions: list[tuple[AlertKind, str | None, str | None, str, float]] = []
        for room in observation.rooms:
            if room.facilitator_gone:
                message = "members are in the room and no facilitator is connected"
                conditions.append(
                    (AlertKind.FACILITATOR_DISCONNECTED, room.room_ref, None, message, 0)
                )
            if room.overtime:
                message = "the session is past its scheduled end"
                conditions.append((AlertKind.ROOM_OVERTIME, room.room_ref, None, message, 0))
        for link in observation.connections:
            problems = []
            if link.loss_pct is not None and link.loss_pct > PARTICIPANT_LOSS_PCT:
                problems.append(f"packet loss {link.loss_pct:.1f} %")
            if link.rtt_ms is not None and link.rtt_ms > PARTICIPANT_RTT_MS:
                problems.append(f"round-trip time {link.rtt_ms:.0f} ms")
            if link.over_budget:
                # At once: the excess is being dropped now (see docs/monitoring.md).
                message = "publish connection over its media budget: excess dropped"
                conditions.append(
                    (
                        AlertKind.MEDIA_BUDGET_EXCEEDED,
                        link.room_ref,
                        link.participant_ref,
                        message,
                        0,
                    )
                )
            if problems:
                conditions.append(
                    (
                        AlertKind.POOR_CONNECTION,
                        link.room_ref,
                        link.participant_ref,
                        ", ".join(problems),
                        self._sustain_s,
                    )
                )
        if observation.cpu_ratio > SERVER_CPU_RATIO:
            message = f"server CPU at {observation.cpu_ratio * 100:.0f} % of a core"
            conditions.append((AlertKind.SERVER_CPU, None, None, message, 0))
        if observation.event_loop_lag_ms > EVENT_LOOP_LAG_MS:
            message = f"event loop {observation.event_loop_lag_ms:.0f} ms late"
            conditions.append((AlertKind.EVENT_LOOP_LAG, None, None, message, 0))

        holding = {(kind, room_ref, peer_ref) for kind, room_ref, peer_ref, _, _ in conditions}
        for key in list(self._first_seen):
            if key not in holding:
                del self._first_seen[key]  # the condition broke: the alert clears
        alerts = []
        for kind, room_ref, peer_ref, message, sustain in conditions:
            since = self._first_seen.setdefault((kind, room_ref, peer_ref), now)
            if now - since >= sustain:
                alerts.append(Alert(kind, room_ref, peer_ref, since, message))
        return alerts
