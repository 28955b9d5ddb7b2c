"""A participant, their lifecycle, and their microphone and camera."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import IntEnum, StrEnum

from rooms.roles import Role


class ParticipantState(IntEnum):
    """Ordered: a participant only ever moves to a later state."""

    WAITING = 1
    ADMITTED = 2
    LEFT = 3
    DENIED = 4
    REMOVED = 5

    @property
    def present(self) -> bool:
        return self in (ParticipantState.WAITING, ParticipantState.ADMITTED)

    @property
    def label(self) -> str:
        return self.name.lower()


class Device(StrEnum):
    MICROPHONE = "microphone"
    CAMERA = "camera"


@dataclass(frozen=True, slots=True)
class DeviceState:
    """``on``: the participant sends it. ``held``: a facilitator switched it off and
    has not let the participant switch it back on."""

    on: bool = False
    held: bool = False


@dataclass(frozen=True, slots=True)
class Identity:
    """Who someone is, as their signed join token says."""

    participant_id: str
    display_name: str
    role: Role


@dataclass(slots=True)
class Participant:
    identity: Identity
    state: ParticipantState
    joined_at: float
    join_order: int
    microphone: DeviceState = field(default_factory=DeviceState)
    camera: DeviceState = field(default_factory=DeviceState)
    unmute_requests: set[Device] = field(default_factory=set)
    accepted_ground_rules: bool = False
    # Their connection dropped at this time and they have not come back yet: they keep
    # their place (hand, turn, floor, holds, admission) until the room's grace period ends.
    reconnecting_since: float | None = None
    # Their media failed while their connection lives: their client is negotiating it
    # again. Shown as reconnecting with no time limit (the room's media is this node's
    # to restore, not theirs to lose their place over); live only, never in the record.
    media_lost: bool = False

    @property
    def connection_lost(self) -> bool:
        """Their connection dropped (or the room was restored): the grace period runs."""
        return self.reconnecting_since is not None

    @property
    def reconnecting(self) -> bool:
        """What the room sees: a dropped connection, or media being negotiated again."""
        return self.reconnecting_since is not None or self.media_lost

    @property
    def id(self) -> str:
        return self.identity.participant_id

    @property
    def role(self) -> Role:
        return self.identity.role

    @property
    def name(self) -> str:
        return self.identity.display_name

    def device(self, device: Device) -> DeviceState:
        return self.microphone if device is Device.MICROPHONE else self.camera

    def set_device(self, device: Device, state: DeviceState) -> bool:
        """Store a device's new state; True when something changed."""
        if self.device(device) == state:
            return False
        if device is Device.MICROPHONE:
            self.microphone = state
        else:
            self.camera = state
        return True

    def switch_off(self, device: Device, *, hold: bool) -> bool:
        current = self.device(device)
        return self.set_device(device, replace(current, on=False, held=current.held or hold))

    def move_to(self, state: ParticipantState) -> None:
        if not self.state.present or state <= self.state:
            raise ValueError(f"participant cannot go from {self.state.label} to {state.label}")
        self.state = state
