"""One pydantic model per client payload. Unknown fields are refused, not ignored:
a client that sends what it thinks is a setting should learn it is not one."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rooms import Device
from rooms.rounds import RoundOrder
from signaling.media import Leg

MAX_SDP_LENGTH = 200_000


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmptyPayload(Payload):
    pass


class JoinPayload(Payload):
    token: str = Field(min_length=1, max_length=4096)
    room_id: str | None = Field(default=None, max_length=64)
    microphone: bool = False
    camera: bool = False


class TargetPayload(Payload):
    participant_id: str = Field(min_length=1, max_length=64)


class DeviceTargetPayload(TargetPayload):
    device: Device = Device.MICROPHONE


class SetMediaPayload(Payload):
    device: Device
    on: bool


class AnswerUnmuteRequestPayload(Payload):
    device: Device = Device.MICROPHONE
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


class SubscriberAnswerPayload(Payload):
    sdp: str = Field(min_length=1, max_length=MAX_SDP_LENGTH)
    type: Literal["answer"]
    revision: int = Field(ge=0)


class IceCandidatePayload(Payload):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    leg: Leg
    candidate: str = Field(max_length=2000)
    sdp_mid: str | None = Field(default=None, alias="sdpMid", max_length=64)
    sdp_mline_index: int | None = Field(default=None, alias="sdpMLineIndex", ge=0)


class SetFloorModePayload(Payload):
    on: bool


class GiveFloorPayload(Payload):
    """No participant: the first raised hand. No seconds: no time limit."""

    participant_id: str | None = Field(default=None, max_length=64)
    seconds: float | None = Field(default=None, gt=0, le=3600)


class StartRoundPayload(Payload):
    order: RoundOrder = RoundOrder.JOIN
    participant_ids: list[str] | None = Field(default=None, max_length=50)
    turn_seconds: float | None = Field(default=None, gt=0, le=3600)


class FinishTurnPayload(Payload):
    passed: bool = False


class ExtendTurnPayload(Payload):
    seconds: float = Field(gt=0, le=3600)


class SetGroundRulesPayload(Payload):
    text: str = Field(max_length=5000)


class SetSchedulePayload(Payload):
    """Times are Unix seconds. Omitted fields are cleared."""

    starts_at: float | None = None
    ends_at: float | None = None
    hard_end: bool = False
    late_cutoff_at: float | None = None
