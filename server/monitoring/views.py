"""What operators see, as JSON (API, live push and the OpenAPI document share these).

Pseudonymous ids, roles, states and figures: never display names, never media.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from rooms import Role
from server.monitoring.alerts import AlertKind
from server.monitoring.rating import Rating


class ParticipantHealth(BaseModel):
    participant_ref: str
    role: Role
    state: str
    rating: Rating | None  # None: no media connection yet
    rtt_ms: float | None
    jitter_ms: float | None
    loss_up_pct: float | None
    loss_down_pct: float | None
    bitrate_up_kbps: float | None
    bitrate_down_kbps: float | None
    candidate_type: str | None
    media_budget_exceeded: bool = False
    # Simulcast (issue 17): cameras received per layer ("single": publishers of one
    # layer), videos paused by reason, their own camera's wanted layers, and their
    # downlink estimate (REMB), in kbps.
    video_layers_received: dict[str, int] = Field(
        default_factory=lambda: {"q": 0, "h": 0, "f": 0, "single": 0}
    )
    videos_paused: dict[str, int] = Field(default_factory=lambda: {"hidden": 0, "bandwidth": 0})
    layers_published: list[str] = Field(default_factory=list)
    downlink_estimate_kbps: float | None = None


class HistoryPoint(BaseModel):
    at: float
    bitrate_up_kbps: float
    bitrate_down_kbps: float
    loss_pct: float


class RoomHealth(BaseModel):
    room_ref: str
    started_at: float | None
    scheduled_end: float | None
    participants: int
    waiting: int
    facilitator_present: bool
    rating: Rating | None
    bitrate_up_kbps: float
    bitrate_down_kbps: float
    loss_pct: float


class RoomDetail(RoomHealth):
    people: list[ParticipantHealth]
    history: list[HistoryPoint]  # the last minutes, about one point a second


class ServerHealth(BaseModel):
    cpu_ratio: float
    memory_bytes: int
    event_loop_lag_ms: float
    forwarded_packets_per_s: float
    consumers: int
    rooms: int
    participants: int


class AlertView(BaseModel):
    kind: AlertKind
    room_ref: str | None
    participant_ref: str | None
    since: float
    message: str


class MonitorSnapshot(BaseModel):
    at: float
    server: ServerHealth
    rooms: list[RoomDetail]
    alerts: list[AlertView]


class RoomList(BaseModel):
    rooms: list[RoomHealth]


class AlertList(BaseModel):
    alerts: list[AlertView]


class EndRoomRequest(BaseModel):
    reason: str


class EndRoomResult(BaseModel):
    room_ref: str
    ended: bool


class ApiError(BaseModel):
    error: dict[str, str]
