"""One pydantic model per client payload. Unknown fields are refused, not ignored:
a client that sends what it thinks is a setting should learn it is not one.

Strict: nothing is coerced (``"off"`` is not a boolean, ``"30"`` not a number); the
only conversion is a JSON string to one of the protocol's enums. Every number is
finite and bounded."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rooms import Device
from rooms.rounds import RoundOrder
from signaling.media import Leg

MAX_SDP_LENGTH = 200_000
# The longest time limit (a turn, the floor) and the latest time a schedule may name
# (2100-01-01, Unix seconds).
MAX_DURATION_S = 3600
MAX_TIMESTAMP = 4_102_444_800

# Enums arrive as JSON strings: the one conversion strict mode is told to allow.
WireDevice = Annotated[Device, Field(strict=False)]
WireLeg = Annotated[Leg, Field(strict=False)]
WireRoundOrder = Annotated[RoundOrder, Field(strict=False)]
Duration = Annotated[float, Field(gt=0, le=MAX_DURATION_S)]
Timestamp = Annotated[float, Field(ge=0, le=MAX_TIMESTAMP)]
ParticipantId = Annotated[str, Field(min_length=1, max_length=64)]


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class EmptyPayload(Payload):
    pass


class JoinPayload(Payload):
    token: str = Field(min_length=1, max_length=4096)
    room_id: str | None = Field(default=None, max_length=64)
    microphone: bool = False
    camera: bool = False


class TargetPayload(Payload):
    participant_id: ParticipantId


class DeviceTargetPayload(TargetPayload):
    device: WireDevice = Device.MICROPHONE


class SetMediaPayload(Payload):
    device: WireDevice
    on: bool


class AnswerUnmuteRequestPayload(Payload):
    device: WireDevice = Device.MICROPHONE
    accept: bool


class LowerHandPayload(Payload):
    participant_id: str | None = Field(default=None, max_length=64)


class SendChatPayload(Payload):
    text: str = Field(min_length=1, max_length=2000)
    to_facilitators: bool = False


class UpdateSettingsPayload(Payload):
    locked: bool | None = None
    auto_admit: bool | None = None
    self_unmute_allowed: bool | None = None
    chat_enabled: bool | None = None
    spotlight_follows_floor: bool | None = None
    takeover_allowed: bool | None = None

    @model_validator(mode="after")
    def _names_a_setting(self) -> UpdateSettingsPayload:
        if not self.model_dump(exclude_none=True):
            raise ValueError("name at least one setting to change")
        return self


class EndSessionPayload(Payload):
    reason: str = Field(default="ended", max_length=200)


class PublishPayload(Payload):
    sdp: str = Field(min_length=1, max_length=MAX_SDP_LENGTH)
    type: Literal["offer"]
    # The offer's video section (its mid) that carries a shared screen, if any.
    screen_mid: str | None = Field(default=None, min_length=1, max_length=32)


class StopScreenSharePayload(Payload):
    """No participant: your own share."""

    participant_id: str | None = Field(default=None, max_length=64)


class AllowScreenSharePayload(TargetPayload):
    allowed: bool


SideRoomId = Annotated[str, Field(min_length=1, max_length=32)]


class OpenSideRoomPayload(Payload):
    participant_ids: list[ParticipantId] = Field(min_length=1, max_length=8)
    seconds: Duration | None = None


class MoveToSideRoomPayload(TargetPayload):
    """No side room: back to the main room."""

    side_room_id: SideRoomId | None = None


class CloseSideRoomPayload(Payload):
    side_room_id: SideRoomId


class SubscriberAnswerPayload(Payload):
    sdp: str = Field(min_length=1, max_length=MAX_SDP_LENGTH)
    type: Literal["answer"]
    revision: int = Field(ge=0)


class IceCandidatePayload(Payload):
    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, allow_inf_nan=False, populate_by_name=True
    )

    leg: WireLeg
    candidate: str = Field(max_length=2000)
    sdp_mid: str | None = Field(default=None, alias="sdpMid", max_length=64)
    sdp_mline_index: int | None = Field(default=None, alias="sdpMLineIndex", ge=0)


# report_view: at most this many tiles (a room admits 16; a generous bound), sizes in
# device pixels up to this (a 16K display's width).
MAX_REPORTED_TILES = 64
MAX_TILE_PIXELS = 16384
TilePixels = Annotated[int, Field(ge=0, le=MAX_TILE_PIXELS)]


class TileViewPayload(Payload):
    participant_id: ParticipantId
    visible: bool
    width: TilePixels
    height: TilePixels


class ReportViewPayload(Payload):
    """How this client shows each remote camera (signaling.media.TileView)."""

    tiles: list[TileViewPayload] = Field(max_length=MAX_REPORTED_TILES)

    @model_validator(mode="after")
    def _one_row_per_participant(self) -> ReportViewPayload:
        # Two rows for one person would leave the media plane to guess which one holds.
        ids = [tile.participant_id for tile in self.tiles]
        if len(set(ids)) != len(ids):
            raise ValueError("name each participant at most once")
        return self


class SetFloorModePayload(Payload):
    on: bool


class GiveFloorPayload(Payload):
    """No participant: the first raised hand. No seconds: no time limit."""

    participant_id: str | None = Field(default=None, max_length=64)
    seconds: Duration | None = None


class StartRoundPayload(Payload):
    order: WireRoundOrder = RoundOrder.JOIN
    participant_ids: list[ParticipantId] | None = Field(default=None, max_length=50)
    turn_seconds: Duration | None = None


class FinishTurnPayload(Payload):
    passed: bool = False


class ExtendTurnPayload(Payload):
    seconds: Duration


class SetGroundRulesPayload(Payload):
    text: str = Field(max_length=5000)


class SetSchedulePayload(Payload):
    """Times are Unix seconds. Omitted fields are cleared."""

    starts_at: Timestamp | None = None
    ends_at: Timestamp | None = None
    hard_end: bool = False
    late_cutoff_at: Timestamp | None = None
