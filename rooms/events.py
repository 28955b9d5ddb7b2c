"""What the room tells the world after a command: typed events with an audience.

The room decides who may learn of a change (privacy is a domain rule: a
waiting member never sees the roster, members never see the waiting list);
signaling only delivers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from rooms.checkins import CheckInRequest
from rooms.floor import FloorView
from rooms.participant import Device, DeviceState, ParticipantState
from rooms.roles import Role
from rooms.rounds import RoundView
from rooms.schedule import Schedule
from rooms.siderooms import SideRoomView
from rooms.talktime import TalkBalance


class Audience(StrEnum):
    EVERYONE = "everyone"  # admitted and waiting participants
    ROOM = "room"  # admitted participants
    FACILITATORS = "facilitators"  # admitted facilitators and co-facilitators
    NOBODY = "nobody"  # only ``also_to``


class LeaveReason(StrEnum):
    LEFT = "left"
    DISCONNECTED = "disconnected"
    REMOVED = "removed"
    DENIED = "denied"


@dataclass(frozen=True, slots=True)
class ParticipantView:
    participant_id: str
    display_name: str
    role: Role
    state: ParticipantState
    microphone: DeviceState
    camera: DeviceState
    hand_raised: bool
    accepted_ground_rules: bool
    joined_at: float
    # Their connection dropped and the room keeps their place while they come back.
    reconnecting: bool = False


@dataclass(frozen=True, slots=True)
class RoomSettings:
    locked: bool = False
    auto_admit: bool = False
    # Members may switch back on what a facilitator switched off. Off by default: in a
    # therapy group a facilitator's mute holds until the facilitator lifts it or asks.
    self_unmute_allowed: bool = False
    chat_enabled: bool = True
    capacity: int = 16
    # Whoever holds the floor (a round's current speaker holds it) is spotlighted when a
    # facilitator has not chosen someone.
    spotlight_follows_floor: bool = False
    # Whether a second connection with the same link may take over a seat whose first
    # connection is alive (a second tab, or a leaked link). Facilitators are told.
    takeover_allowed: bool = True


@dataclass(frozen=True, slots=True)
class ChatMessage:
    message_id: int
    sender_id: str
    text: str
    to_facilitators: bool
    sent_at: float


@dataclass(frozen=True, slots=True)
class RoomEvent:
    audience: ClassVar[Audience] = Audience.ROOM

    @property
    def also_to(self) -> str | None:
        """A participant outside the audience who must hear of this too."""
        return None


@dataclass(frozen=True, slots=True)
class ParticipantWaiting(RoomEvent):
    audience: ClassVar[Audience] = Audience.FACILITATORS
    participant: ParticipantView


@dataclass(frozen=True, slots=True)
class ParticipantAdmitted(RoomEvent):
    """The admitted participant themself receives a full snapshot instead."""

    participant: ParticipantView


@dataclass(frozen=True, slots=True)
class ParticipantLeft(RoomEvent):
    participant_id: str
    reason: LeaveReason

    @property
    def also_to(self) -> str | None:
        barred = self.reason in (LeaveReason.REMOVED, LeaveReason.DENIED)
        return self.participant_id if barred else None


@dataclass(frozen=True, slots=True)
class WaitingParticipantLeft(ParticipantLeft):
    audience: ClassVar[Audience] = Audience.FACILITATORS


@dataclass(frozen=True, slots=True)
class ParticipantReconnecting(RoomEvent):
    """Someone's connection dropped (``reconnecting`` true) and they keep their place for
    the grace period, or they are back (false). Leaving for good is ``ParticipantLeft``."""

    participant_id: str
    reconnecting: bool


@dataclass(frozen=True, slots=True)
class WaitingParticipantReconnecting(ParticipantReconnecting):
    audience: ClassVar[Audience] = Audience.FACILITATORS


@dataclass(frozen=True, slots=True)
class SeatTakenOver(RoomEvent):
    """A new connection took over the seat of someone whose connection was alive: a
    second tab, or someone else with their link. Facilitators may revoke it."""

    audience: ClassVar[Audience] = Audience.FACILITATORS
    participant_id: str


@dataclass(frozen=True, slots=True)
class MediaChanged(RoomEvent):
    """``by``: the facilitator who switched a device off; None for one's own change."""

    participant_id: str
    microphone: DeviceState
    camera: DeviceState
    by: str | None = None


@dataclass(frozen=True, slots=True)
class UnmuteRequested(RoomEvent):
    audience: ClassVar[Audience] = Audience.FACILITATORS
    participant_id: str
    device: Device
    by: str

    @property
    def also_to(self) -> str | None:
        return self.participant_id


@dataclass(frozen=True, slots=True)
class UnmuteRequestAnswered(RoomEvent):
    audience: ClassVar[Audience] = Audience.FACILITATORS
    participant_id: str
    device: Device
    accepted: bool

    @property
    def also_to(self) -> str | None:
        return self.participant_id


@dataclass(frozen=True, slots=True)
class SettingsChanged(RoomEvent):
    settings: RoomSettings


@dataclass(frozen=True, slots=True)
class ChatPosted(RoomEvent):
    message: ChatMessage

    @property
    def also_to(self) -> str | None:
        return self.message.sender_id if self.message.to_facilitators else None


@dataclass(frozen=True, slots=True)
class PrivateChatPosted(ChatPosted):
    audience: ClassVar[Audience] = Audience.FACILITATORS


@dataclass(frozen=True, slots=True)
class SessionEnded(RoomEvent):
    audience: ClassVar[Audience] = Audience.EVERYONE
    ended_by: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class HandQueueChanged(RoomEvent):
    """The whole queue, in order: positions are visible to everyone."""

    queue: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FloorChanged(RoomEvent):
    floor: FloorView


@dataclass(frozen=True, slots=True)
class RoundChanged(RoomEvent):
    """``round`` None: no round is running (it ended, or was ended)."""

    round: RoundView | None


@dataclass(frozen=True, slots=True)
class TurnWarning(RoomEvent):
    audience: ClassVar[Audience] = Audience.FACILITATORS
    participant_id: str
    seconds_left: float

    @property
    def also_to(self) -> str | None:
        return self.participant_id


@dataclass(frozen=True, slots=True)
class SpeakingChanged(RoomEvent):
    participant_id: str
    speaking: bool


@dataclass(frozen=True, slots=True)
class TalkTimeChanged(RoomEvent):
    audience: ClassVar[Audience] = Audience.FACILITATORS
    balance: TalkBalance


@dataclass(frozen=True, slots=True)
class ScheduleChanged(RoomEvent):
    schedule: Schedule


@dataclass(frozen=True, slots=True)
class SessionClockWarning(RoomEvent):
    """The scheduled end is near (or, at 0 minutes left, has passed without a hard end)."""

    audience: ClassVar[Audience] = Audience.FACILITATORS
    minutes_left: int
    ends_at: float


@dataclass(frozen=True, slots=True)
class GroundRulesChanged(RoomEvent):
    """Waiting participants must accept the new rules before they can be admitted."""

    audience: ClassVar[Audience] = Audience.EVERYONE
    ground_rules: str


@dataclass(frozen=True, slots=True)
class CheckInChanged(RoomEvent):
    """A member's discreet request that a facilitator check in with them: opened
    (``request`` set), or closed (``request`` None) by them, or by the facilitator
    named in ``acknowledged_by``. Only the facilitators and that member hear of it."""

    audience: ClassVar[Audience] = Audience.FACILITATORS
    participant_id: str
    request: CheckInRequest | None
    acknowledged_by: str | None = None

    @property
    def also_to(self) -> str | None:
        return self.participant_id


@dataclass(frozen=True, slots=True)
class ScreenShareChanged(RoomEvent):
    """Who shares their screen now (None: nobody); ``stopped_by``: the facilitator who
    stopped someone else's share."""

    participant_id: str | None
    stopped_by: str | None = None


@dataclass(frozen=True, slots=True)
class ScreenSharePermissionChanged(RoomEvent):
    """A facilitator let a member share their screen, or took that back."""

    audience: ClassVar[Audience] = Audience.FACILITATORS
    participant_id: str
    allowed: bool

    @property
    def also_to(self) -> str | None:
        return self.participant_id


@dataclass(frozen=True, slots=True)
class SideRoomsChanged(RoomEvent):
    """Who is in which side room (everyone else is in the main room). The room learns
    who is aside and with whom, never what is said there."""

    side_rooms: tuple[SideRoomView, ...]


@dataclass(frozen=True, slots=True)
class SpotlightChanged(RoomEvent):
    """Whom a facilitator spotlighted for everyone (None: nobody chosen; then the floor
    holder is spotlighted if the room's ``spotlight_follows_floor`` is on)."""

    participant_id: str | None
