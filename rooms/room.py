"""One group session: who is in it, who waits, who can be heard, and what facilitators did.

Every public method is a command. It checks the actor's permission and the
room's state first (guard clauses that raise a named ``RoomError``), changes
nothing when it refuses, and returns the events that describe what changed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace

from rooms.audit import AuditRecord, AuditTrail
from rooms.checkins import CheckInRequest, CheckIns
from rooms.clock import Clock
from rooms.errors import (
    Barred,
    ChatDisabled,
    ConsentRequired,
    InvalidCommand,
    NoPendingRequest,
    NotAdmitted,
    NotInRoom,
    NotWaiting,
    PermissionDenied,
    RoomEnded,
    RoomFull,
    RoomLocked,
    ScreenShareBusy,
    SeatTaken,
    ShareNotAllowed,
    UnmuteNotAllowed,
    WaitingRoomFull,
)
from rooms.events import (
    ChatMessage,
    ChatPosted,
    CheckInChanged,
    FloorChanged,
    GroundRulesChanged,
    HandQueueChanged,
    LeaveReason,
    MediaChanged,
    ParticipantAdmitted,
    ParticipantLeft,
    ParticipantReconnecting,
    ParticipantView,
    ParticipantWaiting,
    PrivateChatPosted,
    RoomEvent,
    RoomSettings,
    RoundChanged,
    ScheduleChanged,
    ScreenShareChanged,
    ScreenSharePermissionChanged,
    SeatTakenOver,
    SessionClockWarning,
    SessionEnded,
    SettingsChanged,
    SideRoomsChanged,
    SpeakingChanged,
    SpotlightChanged,
    TalkTimeChanged,
    TurnWarning,
    UnmuteRequestAnswered,
    UnmuteRequested,
    WaitingParticipantLeft,
    WaitingParticipantReconnecting,
)
from rooms.floor import Floor, FloorView
from rooms.handqueue import HandQueue
from rooms.participant import Device, DeviceState, Identity, Participant, ParticipantState
from rooms.record import (
    RECORD_VERSION,
    RecordError,
    RoomRecord,
    check_version,
    decode_audit,
    decode_check_ins,
    decode_floor,
    decode_hands,
    decode_holds,
    decode_participant,
    decode_round,
    decode_schedule,
    decode_settings,
    encode_audit,
    encode_check_ins,
    encode_floor,
    encode_hands,
    encode_holds,
    encode_participant,
    encode_round,
    encode_schedule,
    encode_settings,
)
from rooms.roles import PERMISSIONS, Command, Role, check_permission
from rooms.rounds import TURN_WARNING_S, GoAround, RoundOrder, RoundView, TurnOutcome
from rooms.schedule import END_WARNINGS_MIN, Schedule
from rooms.siderooms import SideRooms, SideRoomView
from rooms.talktime import TalkBalance, TalkTime

MAX_CHAT_LENGTH = 2000
MAX_GROUND_RULES_LENGTH = 5000
MAX_TURN_S = 3600.0
MAX_SIDE_ROOM_SIZE = 8
# How long someone whose connection dropped keeps their place before they count as gone.
RECONNECT_GRACE_S = 30.0
# How many may wait for admission at once: a flood of links must not bury the list
# (0: no limit).
WAITING_ROOM_SIZE = 50


@dataclass(frozen=True, slots=True)
class RoomSnapshot:
    """The room as one participant may see it."""

    room_id: str
    title: str
    ended: bool
    settings: RoomSettings
    ground_rules: str
    you: ParticipantView
    participants: tuple[ParticipantView, ...]  # empty while you wait: the roster is private
    waiting: tuple[ParticipantView, ...]  # only facilitators see who waits
    hand_queue: tuple[str, ...]
    floor: FloorView | None
    round: RoundView | None
    schedule: Schedule
    speaking: tuple[str, ...]
    talk_balance: TalkBalance | None  # facilitators only
    spotlight_id: str | None  # chosen by a facilitator; None while you wait
    # Open requests to check in: facilitators see all; a member only their own.
    check_ins: tuple[CheckInRequest, ...]
    screen_sharer_id: str | None  # None while you wait
    # Members a facilitator let share their screen: facilitators see all; a member themself.
    screen_share_allowed: tuple[str, ...]
    side_rooms: tuple[SideRoomView, ...]  # who is aside, and with whom; empty while you wait


class Room:
    def __init__(
        self,
        room_id: str,
        clock: Clock,
        *,
        title: str = "",
        ground_rules: str = "",
        settings: RoomSettings | None = None,
        schedule: Schedule | None = None,
        reconnect_grace_s: float = RECONNECT_GRACE_S,
        waiting_room_size: int = WAITING_ROOM_SIZE,
    ) -> None:
        self.room_id = room_id
        self.reconnect_grace_s = reconnect_grace_s
        self.waiting_room_size = waiting_room_size
        self.title = title
        self.ground_rules = ground_rules
        self.settings = settings or RoomSettings()
        self.created_at = clock.now()
        self.ended = False
        self.audit = AuditTrail()
        self.hands = HandQueue()
        self.floor = Floor()
        self.round: GoAround | None = None
        self.schedule = schedule or Schedule()
        self.talk_time = TalkTime()
        self.check_ins = CheckIns()
        self.spotlight_id: str | None = None
        self.screen_sharer_id: str | None = None
        self._may_share_screen: set[str] = set()
        self.side_rooms = SideRooms()
        self._end_warnings_given: set[int] = set()
        self._clock = clock
        self._present: dict[str, Participant] = {}
        self._ever_admitted: set[str] = set()
        self._facilitated_since: float | None = None  # when a facilitator first came in
        self._barred: set[str] = set()
        # A facilitator's hold outlives a reconnect, or leaving would be a way round it.
        self._holds_of_departed: dict[str, frozenset[Device]] = {}
        self._joins = 0
        self._chat_messages = 0

    # -- queries -------------------------------------------------------------

    def participant(self, participant_id: str) -> Participant:
        found = self._present.get(participant_id)
        if found is None:
            raise NotInRoom(f"participant {participant_id} is not in room {self.room_id}")
        return found

    def bars(self, participant_id: str) -> bool:
        """Removed or denied: this session refuses them for good."""
        return participant_id in self._barred

    def is_present(self, participant_id: str) -> bool:
        return participant_id in self._present

    def admitted(self) -> Iterator[Participant]:
        return (p for p in self._present.values() if p.state is ParticipantState.ADMITTED)

    def waiting(self) -> Iterator[Participant]:
        return (p for p in self._present.values() if p.state is ParticipantState.WAITING)

    def facilitators_present(self) -> bool:
        """A facilitator is in the session and reachable: one whose connection dropped is
        still in (their place is kept) but not present for the people in the room."""
        return any(p.role.facilitates and not p.connection_lost for p in self.admitted())

    @property
    def started_at(self) -> float | None:
        """When the session began: the first time a facilitator came in."""
        return self._facilitated_since

    def left_without_facilitator(self) -> bool:
        """Members are in the room, and every facilitator who was here has gone."""
        members_in = any(not p.role.facilitates for p in self.admitted())
        return (
            self._facilitated_since is not None and members_in and not self.facilitators_present()
        )

    def view(self, participant: Participant) -> ParticipantView:
        return ParticipantView(
            participant_id=participant.id,
            display_name=participant.name,
            role=participant.role,
            state=participant.state,
            microphone=participant.microphone,
            camera=participant.camera,
            hand_raised=participant.id in self.hands,
            accepted_ground_rules=participant.accepted_ground_rules,
            joined_at=participant.joined_at,
            reconnecting=participant.reconnecting,
        )

    def snapshot_for(self, participant_id: str) -> RoomSnapshot:
        you = self.participant(participant_id)
        admitted = you.state is ParticipantState.ADMITTED
        return RoomSnapshot(
            room_id=self.room_id,
            title=self.title,
            ended=self.ended,
            settings=self.settings,
            ground_rules=self.ground_rules,
            you=self.view(you),
            participants=tuple(self.view(p) for p in self.admitted()) if admitted else (),
            waiting=(
                tuple(self.view(p) for p in self.waiting())
                if admitted and you.role.facilitates
                else ()
            ),
            hand_queue=tuple(self.hands) if admitted else (),
            floor=self.floor.view() if admitted else None,
            round=self.round.view() if admitted and self.round is not None else None,
            schedule=self.schedule,
            speaking=self.talk_time.speaking() if admitted else (),
            talk_balance=self.talk_balance()
            if admitted and _may(you, Command.VIEW_TALK_TIME)
            else None,
            spotlight_id=self.spotlight_id if admitted else None,
            check_ins=self._check_ins_for(you) if admitted else (),
            screen_sharer_id=self.screen_sharer_id if admitted else None,
            screen_share_allowed=self._share_allowed_for(you) if admitted else (),
            side_rooms=self.side_rooms.views() if admitted else (),
        )

    def _share_allowed_for(self, participant: Participant) -> tuple[str, ...]:
        if participant.role.facilitates:
            return tuple(sorted(self._may_share_screen))
        return (participant.id,) if participant.id in self._may_share_screen else ()

    def _check_ins_for(self, participant: Participant) -> tuple[CheckInRequest, ...]:
        if participant.role.facilitates:
            return tuple(self.check_ins)
        own = self.check_ins.of(participant.id)
        return () if own is None else (own,)

    def may_be_heard(self, participant_id: str) -> bool:
        """Whether the server may forward this participant's audio to the room."""
        if not self._sends(participant_id, Device.MICROPHONE):
            return False
        speaker = self._present[participant_id]
        return not self.floor_restricts or speaker.role.facilitates or self._holds_floor(speaker.id)

    def may_be_seen(self, participant_id: str) -> bool:
        """Whether the server may forward this participant's video to the room."""
        return self._sends(participant_id, Device.CAMERA)

    @property
    def floor_restricts(self) -> bool:
        """In floor mode, and during a round, only the floor holder and facilitators are heard."""
        return self.floor.mode or self.round is not None

    def _holds_floor(self, participant_id: str) -> bool:
        return self.floor.holder_id == participant_id

    def _sends(self, participant_id: str, device: Device) -> bool:
        found = self._present.get(participant_id)
        return (
            found is not None
            and found.state is ParticipantState.ADMITTED
            and found.role is not Role.OBSERVER
            and found.device(device).on
        )

    def may_unmute_self(self, participant: Participant, device: Device) -> bool:
        """A facilitator's mute holds until a facilitator lifts it, asks, or lets members
        lift such mutes themselves (the room's ``self_unmute_allowed``)."""
        if participant.role.facilitates:
            return True
        if participant.role is Role.OBSERVER:
            return False
        return self.settings.self_unmute_allowed or not participant.device(device).held

    # -- arriving and leaving ------------------------------------------------

    def join(
        self, identity: Identity, *, microphone: bool = False, camera: bool = False
    ) -> list[RoomEvent]:
        """Someone arrives with a valid token. A participant already present (a second
        tab, a reconnect within the grace period) keeps their place: capacity, the lock
        and the waiting room never stand in their way."""
        self._ensure_open()
        pid = identity.participant_id
        if pid in self._barred:
            raise Barred("you were removed from this session and cannot rejoin it")
        if pid in self._present:
            return self._rejoined(self._present[pid])
        returning = pid in self._ever_admitted
        if self.settings.locked and not returning:
            raise RoomLocked("the facilitator has locked this session")
        auto = self.settings.auto_admit and not self.schedule.past_late_cutoff(self._clock.now())
        direct = returning or identity.role.facilitates or auto
        if direct and self._needs_consent_for(identity.role) and not returning:
            direct = False
        if direct and self._is_full():
            raise RoomFull(f"this session is full ({self.settings.capacity} people)")
        if not direct and 0 < self.waiting_room_size <= sum(1 for _ in self.waiting()):
            raise WaitingRoomFull("the waiting room is full: try again in a little while")
        self._joins += 1
        participant = Participant(
            identity=identity,
            state=ParticipantState.WAITING,
            joined_at=self._clock.now(),
            join_order=self._joins,
            accepted_ground_rules=returning or not self._needs_consent_for(identity.role),
        )
        self._present[pid] = participant
        # Attendance: ids and times only.
        self.audit.record(participant.joined_at, None, pid, "join")
        for device in self._holds_of_departed.pop(pid, frozenset()):
            participant.set_device(device, DeviceState(on=False, held=True))
        for device, wanted in ((Device.MICROPHONE, microphone), (Device.CAMERA, camera)):
            if wanted and self.may_unmute_self(participant, device):
                participant.set_device(device, DeviceState(on=True))
        if not direct:
            return [ParticipantWaiting(self.view(participant))]
        self.audit.record(participant.joined_at, None, pid, "admitted")
        return self._admit(participant)

    def leave(self, participant_id: str, reason: LeaveReason = LeaveReason.LEFT) -> list[RoomEvent]:
        participant = self.participant(participant_id)
        check_permission(participant.role, Command.LEAVE)
        return self._depart(participant, ParticipantState.LEFT, reason)

    def connection_lost(self, participant_id: str) -> list[RoomEvent]:
        """Their connection dropped without them leaving. They keep
        everything for ``reconnect_grace_s``: a raised hand, a round turn (a timed one
        keeps running; a facilitator can skip it), the floor, holds and admission. Only
        when the grace period ends do they leave, as ``disconnected``."""
        participant = self._present.get(participant_id)
        if self.ended or participant is None or participant.connection_lost:
            return []
        now = self._clock.now()
        shown = participant.reconnecting  # already shown as reconnecting (media lost)
        participant.reconnecting_since = now
        self.audit.record(now, None, participant_id, "connection_lost")
        events: list[RoomEvent] = [] if shown else [self._reconnecting_event(participant)]
        if self.talk_time.stop(participant_id, now):
            events.append(SpeakingChanged(participant_id, speaking=False))
        return events

    def media_lost(self, participant_id: str) -> list[RoomEvent]:
        """Their media failed while their connection lives: the room sees them as
        reconnecting (the same state and event as a drop) until their media is
        negotiated again (``media_restored``), and they keep everything as in a drop.
        No grace period runs: their client is alive and retrying, so their place is
        kept for as long as it tries; if the connection drops too, the drop's grace
        period starts then."""
        participant = self._present.get(participant_id)
        if (
            self.ended
            or participant is None
            or participant.state is not ParticipantState.ADMITTED
            or participant.media_lost
        ):
            return []
        shown = participant.reconnecting
        participant.media_lost = True
        now = self._clock.now()
        self.audit.record(now, None, participant_id, "media_lost")
        events: list[RoomEvent] = [] if shown else [self._reconnecting_event(participant)]
        if self.talk_time.stop(participant_id, now):
            events.append(SpeakingChanged(participant_id, speaking=False))
        return events

    def media_restored(self, participant_id: str) -> list[RoomEvent]:
        """Their media is negotiated again after ``media_lost``: present again."""
        participant = self._present.get(participant_id)
        if self.ended or participant is None or not participant.media_lost:
            return []
        participant.media_lost = False
        self.audit.record(self._clock.now(), None, participant_id, "media_restored")
        if participant.reconnecting:
            return []  # their connection dropped meanwhile: the rejoin says they are back
        return [self._reconnecting_event(participant)]

    def restored(self) -> list[RoomEvent]:
        """The room was just taken on from its record (a restart, a failover): nobody is
        connected to it yet. Everyone it remembers is reconnecting under the same grace
        period as a dropped connection (a drop that began before keeps its start), and
        leaves as ``disconnected`` if they do not rejoin within it. Returns the events
        (no one is connected to receive them; snapshots carry the state)."""
        if self.ended:
            return []
        now = self._clock.now()
        events: list[RoomEvent] = []
        for participant in self._present.values():
            participant.media_lost = False
            if participant.connection_lost:
                continue
            participant.reconnecting_since = now
            self.audit.record(now, None, participant.id, "connection_lost")
            events.append(self._reconnecting_event(participant))
        return events

    def _rejoined(self, participant: Participant) -> list[RoomEvent]:
        """Someone present joins again: back from a drop, or a takeover of a live seat."""
        if not participant.connection_lost:
            return self._take_over(participant)
        participant.reconnecting_since = None
        # A new connection negotiates its media from scratch: nothing is left to wait for.
        participant.media_lost = False
        self.audit.record(self._clock.now(), None, participant.id, "reconnected")
        return [self._reconnecting_event(participant)]

    def _take_over(self, participant: Participant) -> list[RoomEvent]:
        """The same link joins while its connection is alive. Facilitators hear of it (a
        leaked link shows itself); the room may refuse it."""
        if not self.settings.takeover_allowed:
            raise SeatTaken("this link is in use in another window or on another device")
        self.audit.record(self._clock.now(), None, participant.id, "seat_taken_over")
        if participant.state is not ParticipantState.ADMITTED:
            return []
        return [SeatTakenOver(participant.id)]

    def _reconnecting_event(self, participant: Participant) -> ParticipantReconnecting:
        # Only facilitators may learn who waits, so a waiting person's drop is theirs alone.
        kind = (
            WaitingParticipantReconnecting
            if participant.state is ParticipantState.WAITING
            else ParticipantReconnecting
        )
        return kind(participant.id, participant.reconnecting)

    def _grace_ended(self, now: float) -> list[RoomEvent]:
        events: list[RoomEvent] = []
        for participant in list(self._present.values()):
            since = participant.reconnecting_since
            if since is not None and now - since >= self.reconnect_grace_s:
                events += self._depart(participant, ParticipantState.LEFT, LeaveReason.DISCONNECTED)
        return events

    # -- the waiting room ----------------------------------------------------

    def accept_ground_rules(self, actor_id: str) -> list[RoomEvent]:
        participant = self.participant(actor_id)
        check_permission(participant.role, Command.ACCEPT_GROUND_RULES)
        if participant.accepted_ground_rules:
            return []
        participant.accepted_ground_rules = True
        self.audit.record(self._clock.now(), actor_id, None, "ground_rules_accepted")
        admit_now = (
            participant.state is ParticipantState.WAITING
            and self.settings.auto_admit
            and not self.settings.locked
            and not self.schedule.past_late_cutoff(self._clock.now())
            and not self._is_full()
        )
        if admit_now:
            return self._admit(participant)
        if participant.state is ParticipantState.WAITING:
            return [ParticipantWaiting(self.view(participant))]
        return []

    def admit(self, actor_id: str, target_id: str) -> list[RoomEvent]:
        self._actor(actor_id, Command.ADMIT)
        target = self._waiting_participant(target_id)
        if not target.accepted_ground_rules:
            raise ConsentRequired("this person has not accepted the ground rules yet")
        if self._is_full():
            raise RoomFull(f"this session is full ({self.settings.capacity} people)")
        self.audit.record(self._clock.now(), actor_id, target_id, "admit")
        return self._admit(target)

    def deny(self, actor_id: str, target_id: str) -> list[RoomEvent]:
        self._actor(actor_id, Command.DENY)
        target = self._waiting_participant(target_id)
        self.audit.record(self._clock.now(), actor_id, target_id, "deny")
        self._barred.add(target_id)
        return self._depart(target, ParticipantState.DENIED, LeaveReason.DENIED)

    def admit_all(self, actor_id: str) -> list[RoomEvent]:
        """Admit everyone waiting who has accepted the ground rules, in arrival order,
        while there is room."""
        self._actor(actor_id, Command.ADMIT_ALL)
        events: list[RoomEvent] = []
        ready = sorted(
            (p for p in self.waiting() if p.accepted_ground_rules), key=lambda p: p.join_order
        )
        for target in ready:
            if self._is_full():
                break
            self.audit.record(self._clock.now(), actor_id, target.id, "admit")
            events += self._admit(target)
        return events

    # -- room settings ---------------------------------------------------------

    def set_auto_admit(self, actor_id: str, enabled: bool) -> list[RoomEvent]:
        self._actor(actor_id, Command.SET_AUTO_ADMIT)
        return self._change_settings(actor_id, "set_auto_admit", auto_admit=enabled)

    def lock(self, actor_id: str, locked: bool) -> list[RoomEvent]:
        self._actor(actor_id, Command.LOCK)
        return self._change_settings(actor_id, "lock" if locked else "unlock", locked=locked)

    def set_self_unmute(self, actor_id: str, allowed: bool) -> list[RoomEvent]:
        self._actor(actor_id, Command.SET_SELF_UNMUTE)
        return self._change_settings(actor_id, "set_self_unmute", self_unmute_allowed=allowed)

    def set_takeover_allowed(self, actor_id: str, allowed: bool) -> list[RoomEvent]:
        self._actor(actor_id, Command.LOCK)
        return self._change_settings(actor_id, "set_takeover_allowed", takeover_allowed=allowed)

    def set_chat_enabled(self, actor_id: str, enabled: bool) -> list[RoomEvent]:
        self._actor(actor_id, Command.SET_CHAT_ENABLED)
        return self._change_settings(actor_id, "set_chat_enabled", chat_enabled=enabled)

    # -- microphones and cameras ---------------------------------------------

    def set_own_media(self, actor_id: str, device: Device, on: bool) -> list[RoomEvent]:
        actor = self._actor(actor_id, Command.SET_OWN_MEDIA)
        if on and not self.may_unmute_self(actor, device):
            raise UnmuteNotAllowed(f"the facilitator has to let you turn your {device} on")
        current = actor.device(device)
        if not actor.set_device(device, replace(current, on=on)):
            return []
        return [self._media_changed(actor)]

    def mute(self, actor_id: str, target_id: str, device: Device) -> list[RoomEvent]:
        self._actor(actor_id, Command.MUTE)
        target = self._moderation_target(actor_id, target_id)
        self.audit.record(self._clock.now(), actor_id, target_id, f"mute_{device}")
        target.unmute_requests.discard(device)
        if not target.switch_off(device, hold=not target.role.facilitates):
            return []
        return [self._media_changed(target, by=actor_id)]

    def mute_all(self, actor_id: str) -> list[RoomEvent]:
        """Switch off every member's microphone; facilitators keep theirs."""
        self._actor(actor_id, Command.MUTE_ALL)
        self.audit.record(self._clock.now(), actor_id, None, "mute_all")
        events: list[RoomEvent] = []
        for target in self.admitted():
            if target.role.facilitates:
                continue
            target.unmute_requests.discard(Device.MICROPHONE)
            if target.switch_off(Device.MICROPHONE, hold=True):
                events.append(self._media_changed(target, by=actor_id))
        return events

    def ask_to_unmute(self, actor_id: str, target_id: str, device: Device) -> list[RoomEvent]:
        """Nobody can switch someone else's microphone or camera on: a facilitator asks."""
        self._actor(actor_id, Command.ASK_TO_UNMUTE)
        target = self._moderation_target(actor_id, target_id)
        if target.role is Role.OBSERVER:
            raise InvalidCommand("observers do not send audio or video")
        if target.device(device).on:
            raise InvalidCommand(f"their {device} is already on")
        self.audit.record(self._clock.now(), actor_id, target_id, f"ask_to_unmute_{device}")
        target.unmute_requests.add(device)
        return [UnmuteRequested(target_id, device, by=actor_id)]

    def answer_unmute_request(self, actor_id: str, device: Device, accept: bool) -> list[RoomEvent]:
        actor = self._actor(actor_id, Command.ANSWER_UNMUTE_REQUEST)
        if device not in actor.unmute_requests:
            raise NoPendingRequest(f"nobody asked you to turn your {device} on")
        actor.unmute_requests.discard(device)
        answer = "accepted" if accept else "declined"
        self.audit.record(self._clock.now(), actor_id, None, f"unmute_request_{answer}_{device}")
        events: list[RoomEvent] = [UnmuteRequestAnswered(actor_id, device, accepted=accept)]
        if accept:
            actor.set_device(device, DeviceState(on=True, held=False))
            events.append(self._media_changed(actor))
        return events

    def allow_unmute(self, actor_id: str, target_id: str, device: Device) -> list[RoomEvent]:
        """Lift a facilitator's hold so the participant may switch the device on themselves."""
        self._actor(actor_id, Command.ALLOW_UNMUTE)
        target = self._moderation_target(actor_id, target_id)
        current = target.device(device)
        if not current.held:
            return []
        self.audit.record(self._clock.now(), actor_id, target_id, f"allow_unmute_{device}")
        target.set_device(device, replace(current, held=False))
        return [self._media_changed(target, by=actor_id)]

    # -- hands -----------------------------------------------------------------

    def raise_hand(self, actor_id: str) -> list[RoomEvent]:
        actor = self._actor(actor_id, Command.RAISE_HAND)
        if not self.hands.raise_hand(actor.id):
            return []
        return [HandQueueChanged(tuple(self.hands))]

    def lower_hand(self, actor_id: str, target_id: str | None = None) -> list[RoomEvent]:
        if target_id is None or target_id == actor_id:
            self._actor(actor_id, Command.LOWER_HAND)
            target_id = actor_id
        else:
            self._actor(actor_id, Command.LOWER_HAND_OF_OTHER)
            self._moderation_target(actor_id, target_id)
            self.audit.record(self._clock.now(), actor_id, target_id, "lower_hand")
        if not self.hands.lower_hand(target_id):
            return []
        return [HandQueueChanged(tuple(self.hands))]

    # -- chat --------------------------------------------------------------------

    def send_chat(self, actor_id: str, text: str, *, to_facilitators: bool) -> list[RoomEvent]:
        """Messages are delivered, never kept: they live only in the browsers of the session."""
        command = Command.SEND_CHAT_TO_FACILITATORS if to_facilitators else Command.SEND_CHAT
        actor = self._actor(actor_id, command)
        if not to_facilitators and not actor.role.facilitates and not self.settings.chat_enabled:
            raise ChatDisabled("the facilitator has turned chat off")
        text = text.strip()
        if not text:
            raise InvalidCommand("a message needs some text")
        if len(text) > MAX_CHAT_LENGTH:
            raise InvalidCommand(f"a message is at most {MAX_CHAT_LENGTH} characters")
        self._chat_messages += 1
        message = ChatMessage(
            message_id=self._chat_messages,
            sender_id=actor_id,
            text=text,
            to_facilitators=to_facilitators,
            sent_at=self._clock.now(),
        )
        return [PrivateChatPosted(message) if to_facilitators else ChatPosted(message)]

    # -- checking in -----------------------------------------------------------------

    def request_check_in(self, actor_id: str) -> list[RoomEvent]:
        """A member's "please check in with me", for the facilitators' eyes only. Asking again
        while a request is open changes nothing (its time says how long they have waited)."""
        self._actor(actor_id, Command.REQUEST_CHECK_IN)
        request = self.check_ins.request(actor_id, self._clock.now())
        if request is None:
            return []
        self.audit.record(request.requested_at, actor_id, None, "check_in_requested")
        return [CheckInChanged(actor_id, request)]

    def cancel_check_in(self, actor_id: str) -> list[RoomEvent]:
        self._actor(actor_id, Command.REQUEST_CHECK_IN)
        if not self.check_ins.close(actor_id):
            return []
        self.audit.record(self._clock.now(), actor_id, None, "check_in_cancelled")
        return [CheckInChanged(actor_id, None)]

    def acknowledge_check_in(self, actor_id: str, target_id: str) -> list[RoomEvent]:
        """A facilitator has seen the request and will check in: it closes, and the
        member is told it was seen."""
        self._actor(actor_id, Command.ACKNOWLEDGE_CHECK_IN)
        if target_id not in self.check_ins:
            raise NoPendingRequest("this person has no open request to check in")
        self.check_ins.close(target_id)
        self.audit.record(self._clock.now(), actor_id, target_id, "check_in_acknowledged")
        return [CheckInChanged(target_id, None, acknowledged_by=actor_id)]

    # -- screen sharing ----------------------------------------------------------------

    def is_sharing_screen(self, participant_id: str) -> bool:
        """Whether the server may forward this participant's screen track to the room."""
        return self.screen_sharer_id == participant_id and self.is_present(participant_id)

    def start_screen_share(self, actor_id: str) -> list[RoomEvent]:
        """Facilitators share; a member shares once a facilitator lets them. One share
        at a time in the room: the next waits until it stops."""
        actor = self._actor(actor_id, Command.SHARE_SCREEN)
        if not actor.role.facilitates and actor_id not in self._may_share_screen:
            raise ShareNotAllowed("a facilitator has to let you share your screen")
        if self.screen_sharer_id == actor_id:
            return []
        if self.screen_sharer_id is not None:
            raise ScreenShareBusy("someone else is sharing their screen: one share at a time")
        self.screen_sharer_id = actor_id
        self.audit.record(self._clock.now(), actor_id, None, "start_screen_share")
        return [ScreenShareChanged(actor_id)]

    def stop_screen_share(self, actor_id: str, target_id: str | None = None) -> list[RoomEvent]:
        """Stop one's own share, or (facilitators) anyone's."""
        if target_id is None or target_id == actor_id:
            self._actor(actor_id, Command.SHARE_SCREEN)
            if self.screen_sharer_id != actor_id:
                return []
            self.audit.record(self._clock.now(), actor_id, None, "stop_screen_share")
            self.screen_sharer_id = None
            return [ScreenShareChanged(None)]
        self._actor(actor_id, Command.MANAGE_SCREEN_SHARE)
        self._moderation_target(actor_id, target_id)
        if self.screen_sharer_id != target_id:
            raise InvalidCommand("this person is not sharing their screen")
        self.audit.record(self._clock.now(), actor_id, target_id, "stop_screen_share")
        self.screen_sharer_id = None
        return [ScreenShareChanged(None, stopped_by=actor_id)]

    def allow_screen_share(self, actor_id: str, target_id: str, allowed: bool) -> list[RoomEvent]:
        """Let a member share their screen, or take it back (which stops their share)."""
        self._actor(actor_id, Command.MANAGE_SCREEN_SHARE)
        target = self._moderation_target(actor_id, target_id)
        if target.role is not Role.MEMBER:
            raise InvalidCommand("facilitators share anyway; observers do not share")
        if (target_id in self._may_share_screen) == allowed:
            return []
        action = "allow_screen_share" if allowed else "disallow_screen_share"
        self.audit.record(self._clock.now(), actor_id, target_id, action)
        events: list[RoomEvent] = [ScreenSharePermissionChanged(target_id, allowed)]
        if allowed:
            self._may_share_screen.add(target_id)
        else:
            self._may_share_screen.discard(target_id)
            if self.screen_sharer_id == target_id:
                self.screen_sharer_id = None
                events.append(ScreenShareChanged(None, stopped_by=actor_id))
        return events

    # -- side rooms ----------------------------------------------------------------------

    def place_of(self, participant_id: str) -> str | None:
        """The side room someone is in; None: the main room. Media flows only within a place."""
        return self.side_rooms.where(participant_id)

    def open_side_room(
        self, actor_id: str, participant_ids: list[str], seconds: float | None = None
    ) -> list[RoomEvent]:
        """Take people aside (a facilitator with one member, a pair for an exercise), for a
        set time or until brought back. The session's rules (holds, removal) go with them."""
        self._actor(actor_id, Command.MANAGE_SIDE_ROOMS)
        if not participant_ids:
            raise InvalidCommand("name who goes to the side room")
        if len(set(participant_ids)) != len(participant_ids):
            raise InvalidCommand("name each person once")
        if len(participant_ids) > MAX_SIDE_ROOM_SIZE:
            raise InvalidCommand(f"a side room holds at most {MAX_SIDE_ROOM_SIZE} people")
        for pid in participant_ids:
            self._aside_target(actor_id, pid)
            if self.side_rooms.where(pid) is not None:
                raise InvalidCommand("someone named is in a side room already")
        now = self._clock.now()
        ends_at = None if seconds is None else now + _turn_length(seconds)
        side_room_id = self.side_rooms.open(participant_ids, ends_at)
        for pid in participant_ids:
            self.audit.record(now, actor_id, pid, f"move_to_{side_room_id}")
        return [SideRoomsChanged(self.side_rooms.views())]

    def move_to_side_room(
        self, actor_id: str, target_id: str, side_room_id: str | None
    ) -> list[RoomEvent]:
        """Move someone (a facilitator: themself too) into a side room, or back (None)."""
        self._actor(actor_id, Command.MANAGE_SIDE_ROOMS)
        self._aside_target(actor_id, target_id)
        if side_room_id is not None and not self.side_rooms.exists(side_room_id):
            raise InvalidCommand("there is no such side room")
        if not self.side_rooms.move(target_id, side_room_id):
            return []
        self.audit.record(
            self._clock.now(), actor_id, target_id, f"move_to_{side_room_id or 'main_room'}"
        )
        return [SideRoomsChanged(self.side_rooms.views())]

    def close_side_room(self, actor_id: str, side_room_id: str) -> list[RoomEvent]:
        self._actor(actor_id, Command.MANAGE_SIDE_ROOMS)
        if not self.side_rooms.exists(side_room_id):
            raise InvalidCommand("there is no such side room")
        self.side_rooms.close(side_room_id)
        self.audit.record(self._clock.now(), actor_id, None, f"close_{side_room_id}")
        return [SideRoomsChanged(self.side_rooms.views())]

    def bring_everyone_back(self, actor_id: str) -> list[RoomEvent]:
        self._actor(actor_id, Command.MANAGE_SIDE_ROOMS)
        ids = self.side_rooms.ids()
        if not ids:
            return []
        for side_room_id in ids:
            self.side_rooms.close(side_room_id)
        self.audit.record(self._clock.now(), actor_id, None, "close_side_rooms")
        return [SideRoomsChanged(self.side_rooms.views())]

    def _aside_target(self, actor_id: str, target_id: str) -> Participant:
        """Someone who may go aside: in the session, not an observer, and not of a higher
        role than the one who moves them (facilitators move themselves)."""
        target = self._speaker(target_id)
        if target_id != actor_id:
            self._moderation_target(actor_id, target_id)
        return target

    # -- the spotlight -----------------------------------------------------------------

    def spotlight(self, actor_id: str, target_id: str) -> list[RoomEvent]:
        """Make one person large on every screen (a speaker, a demonstration)."""
        self._actor(actor_id, Command.SPOTLIGHT)
        target = self._speaker(target_id)
        if self.spotlight_id == target.id:
            return []
        self.spotlight_id = target.id
        self.audit.record(self._clock.now(), actor_id, target.id, "spotlight")
        return [SpotlightChanged(target.id)]

    def clear_spotlight(self, actor_id: str) -> list[RoomEvent]:
        self._actor(actor_id, Command.SPOTLIGHT)
        if self.spotlight_id is None:
            return []
        self.audit.record(self._clock.now(), actor_id, self.spotlight_id, "clear_spotlight")
        self.spotlight_id = None
        return [SpotlightChanged(None)]

    def set_spotlight_follows_floor(self, actor_id: str, on: bool) -> list[RoomEvent]:
        self._actor(actor_id, Command.SPOTLIGHT)
        return self._change_settings(
            actor_id, "set_spotlight_follows_floor", spotlight_follows_floor=on
        )

    def spotlighted(self) -> str | None:
        """Who is large on every screen: the facilitator's choice, else (when the room
        says so) the floor holder, who in a round is the current speaker."""
        if self.spotlight_id is not None:
            return self.spotlight_id
        return self.floor.holder_id if self.settings.spotlight_follows_floor else None

    # -- the floor ----------------------------------------------------------------

    def set_floor_mode(self, actor_id: str, on: bool) -> list[RoomEvent]:
        self._actor(actor_id, Command.SET_FLOOR_MODE)
        if self.floor.mode == on:
            return []
        self.floor.mode = on
        self.audit.record(self._clock.now(), actor_id, None, f"floor_mode_{'on' if on else 'off'}")
        return [FloorChanged(self.floor.view())]

    def give_floor(
        self, actor_id: str, target_id: str | None = None, seconds: float | None = None
    ) -> list[RoomEvent]:
        """Give the floor to someone, or to the first raised hand when nobody is named."""
        self._actor(actor_id, Command.GIVE_FLOOR)
        self._ensure_no_round()
        if target_id is None:
            target_id = self.hands.next()
            if target_id is None:
                raise InvalidCommand("no hands are raised")
        target = self._speaker(target_id)
        ends_at = None if seconds is None else self._clock.now() + _turn_length(seconds)
        self.floor.give(target.id, ends_at)
        self.audit.record(self._clock.now(), actor_id, target.id, "give_floor")
        events: list[RoomEvent] = [FloorChanged(self.floor.view())]
        if self.hands.lower_hand(target.id):
            events.append(HandQueueChanged(tuple(self.hands)))
        return events

    def take_back_floor(self, actor_id: str) -> list[RoomEvent]:
        self._actor(actor_id, Command.TAKE_BACK_FLOOR)
        self._ensure_no_round()
        holder = self.floor.holder_id
        if not self.floor.release():
            return []
        self.audit.record(self._clock.now(), actor_id, holder, "take_back_floor")
        return [FloorChanged(self.floor.view())]

    def yield_floor(self, actor_id: str) -> list[RoomEvent]:
        """The floor holder hands the floor back. In a round, use finish_turn."""
        self._actor(actor_id, Command.YIELD_FLOOR)
        self._ensure_no_round()
        if self.floor.holder_id != actor_id:
            raise InvalidCommand("you do not hold the floor")
        self.floor.release()
        self.audit.record(self._clock.now(), actor_id, None, "yield_floor")
        return [FloorChanged(self.floor.view())]

    # -- go-around rounds ----------------------------------------------------------

    def start_round(
        self,
        actor_id: str,
        order: RoundOrder,
        *,
        chosen: list[str] | None = None,
        turn_seconds: float | None = None,
        shuffle_seed: int = 0,
    ) -> list[RoomEvent]:
        """Start a round: the members in join order, shuffled, or in a chosen order.
        ``shuffle_seed`` keeps the domain deterministic; the caller picks it at random."""
        self._actor(actor_id, Command.RUN_ROUND)
        self._ensure_no_round()
        if turn_seconds is not None:
            turn_seconds = _turn_length(turn_seconds)
        if order is RoundOrder.CHOSEN:
            if not chosen:
                raise InvalidCommand("a chosen order needs at least one participant")
            if len(set(chosen)) != len(chosen):
                raise InvalidCommand("each participant takes one turn")
            speakers = [self._speaker(pid).id for pid in chosen]
        else:
            if chosen:
                raise InvalidCommand("only a chosen order takes a list of participants")
            members = sorted(
                (p for p in self.admitted() if p.role is Role.MEMBER), key=lambda p: p.join_order
            )
            speakers = [p.id for p in members]
            if order is RoundOrder.SHUFFLED:
                random.Random(shuffle_seed).shuffle(speakers)
        if not speakers:
            raise InvalidCommand("there is nobody to go around")
        now = self._clock.now()
        self.round = GoAround(speakers, turn_seconds)
        self.round.start_turn(now)
        self.audit.record(now, actor_id, None, f"start_round_{order}")
        return self._after_round_moved()

    def finish_turn(self, actor_id: str, *, passed: bool) -> list[RoomEvent]:
        """The speaker says Done, or Pass."""
        self._actor(actor_id, Command.FINISH_TURN)
        current = self._running_round()
        if current.current_id != actor_id:
            raise InvalidCommand("it is not your turn")
        outcome = TurnOutcome.PASSED if passed else TurnOutcome.DONE
        self.audit.record(self._clock.now(), actor_id, None, f"turn_{outcome}")
        current.end_turn(outcome, self._clock.now())
        return self._after_round_moved()

    def skip_turn(self, actor_id: str) -> list[RoomEvent]:
        self._actor(actor_id, Command.RUN_ROUND)
        current = self._running_round()
        self.audit.record(self._clock.now(), actor_id, current.current_id, "skip_turn")
        current.end_turn(TurnOutcome.SKIPPED, self._clock.now())
        return self._after_round_moved()

    def extend_turn(self, actor_id: str, seconds: float) -> list[RoomEvent]:
        self._actor(actor_id, Command.RUN_ROUND)
        current = self._running_round()
        current.extend(_turn_length(seconds), self._clock.now())
        self.audit.record(self._clock.now(), actor_id, current.current_id, "extend_turn")
        return self._after_round_moved()

    def end_round(self, actor_id: str) -> list[RoomEvent]:
        self._actor(actor_id, Command.RUN_ROUND)
        self._running_round()
        self.audit.record(self._clock.now(), actor_id, None, "end_round")
        return self._close_round()

    def _after_round_moved(self) -> list[RoomEvent]:
        """Give the floor to the round's current speaker, or close a finished round."""
        assert self.round is not None
        if self.round.finished:
            return self._close_round()
        self.floor.give(self.round.current_id or "", self.round.turn_ends_at)
        return [RoundChanged(self.round.view()), FloorChanged(self.floor.view())]

    def _close_round(self) -> list[RoomEvent]:
        self.round = None
        self.floor.release()
        return [RoundChanged(None), FloorChanged(self.floor.view())]

    def _running_round(self) -> GoAround:
        if self.round is None:
            raise InvalidCommand("no round is running")
        return self.round

    def _ensure_no_round(self) -> None:
        if self.round is not None:
            raise InvalidCommand("a round is running: skip a turn or end the round first")

    # -- speaking and talk time ---------------------------------------------------

    def speaking_changed(self, participant_id: str, speaking: bool) -> list[RoomEvent]:
        """From the media plane's audio levels. Only audible speech counts."""
        if self.ended or not self.is_present(participant_id):
            return []
        now = self._clock.now()
        if speaking and self.may_be_heard(participant_id):
            changed = self.talk_time.start(participant_id, now)
        else:
            changed = self.talk_time.stop(participant_id, now)
        if not changed:
            return []
        events: list[RoomEvent] = [SpeakingChanged(participant_id, speaking=speaking)]
        if not speaking:
            events.append(TalkTimeChanged(self.talk_balance()))
        return events

    def talk_balance(self) -> TalkBalance:
        speakers = [p.id for p in self.admitted() if p.role is not Role.OBSERVER]
        return self.talk_time.balance(speakers, self._clock.now())

    # -- ground rules, schedule, audit ----------------------------------------------

    def set_ground_rules(self, actor_id: str, text: str) -> list[RoomEvent]:
        self._actor(actor_id, Command.SET_GROUND_RULES)
        text = text.strip()
        if len(text) > MAX_GROUND_RULES_LENGTH:
            raise InvalidCommand(f"ground rules are at most {MAX_GROUND_RULES_LENGTH} characters")
        if text == self.ground_rules:
            return []
        self.ground_rules = text
        self.audit.record(self._clock.now(), actor_id, None, "set_ground_rules")
        # Who waits has agreed to other rules: they accept these before they come in.
        for waiting in self.waiting():
            waiting.accepted_ground_rules = not self._needs_consent_for(waiting.role)
        return [GroundRulesChanged(text)]

    def set_schedule(self, actor_id: str, schedule: Schedule) -> list[RoomEvent]:
        self._actor(actor_id, Command.SET_SCHEDULE)
        if schedule == self.schedule:
            return []
        self.schedule = schedule
        self._end_warnings_given.clear()
        self.audit.record(self._clock.now(), actor_id, None, "set_schedule")
        return [ScheduleChanged(schedule)]

    def audit_records(self, actor_id: str) -> tuple[AuditRecord, ...]:
        self._actor(actor_id, Command.VIEW_AUDIT)
        return tuple(self.audit)

    # -- time -----------------------------------------------------------------------

    def tick(self) -> list[RoomEvent]:
        """Let time act: turn warnings and time-ups, a timed floor running out, the
        session clock's warnings and hard end. The server calls this about once a second."""
        if self.ended:
            return []
        now = self._clock.now()
        events: list[RoomEvent] = self._grace_ended(now)
        if self.round is not None:
            if self.round.time_up(now):
                self.audit.record(now, None, self.round.current_id, "turn_timed_out")
                self.round.end_turn(TurnOutcome.TIMED_OUT, now)
                events += self._after_round_moved()
            elif self.round.warning_due(now) and self.round.current_id is not None:
                self.round.warned = True
                left = max(0.0, (self.round.turn_ends_at or now) - now)
                events.append(TurnWarning(self.round.current_id, min(left, TURN_WARNING_S)))
        elif self.floor.expired(now):
            holder = self.floor.holder_id
            self.floor.release()
            self.audit.record(now, None, holder, "floor_timed_out")
            events.append(FloorChanged(self.floor.view()))
        expired = self.side_rooms.expired(now)
        for side_room_id in expired:
            self.side_rooms.close(side_room_id)
            self.audit.record(now, None, None, f"{side_room_id}_timed_out")
        if expired:
            events.append(SideRoomsChanged(self.side_rooms.views()))
        return events + self._clock_events(now)

    def _clock_events(self, now: float) -> list[RoomEvent]:
        ends_at = self.schedule.ends_at
        if ends_at is None:
            return []
        if now >= ends_at:
            if self.schedule.hard_end:
                return self.end_session(None, "scheduled_end")
            if 0 in self._end_warnings_given:
                return []
            self._end_warnings_given.update((0, *END_WARNINGS_MIN))
            return [SessionClockWarning(0, ends_at)]
        due = [m for m in END_WARNINGS_MIN if now >= ends_at - m * 60]
        fresh = [m for m in due if m not in self._end_warnings_given]
        if not fresh:
            return []
        self._end_warnings_given.update(due)
        return [SessionClockWarning(math.ceil((ends_at - now) / 60), ends_at)]

    # -- removal and the end ---------------------------------------------------

    def remove(self, actor_id: str, target_id: str) -> list[RoomEvent]:
        self._actor(actor_id, Command.REMOVE)
        target = self._moderation_target(actor_id, target_id)
        self.audit.record(self._clock.now(), actor_id, target_id, "remove")
        self._barred.add(target_id)
        return self._depart(target, ParticipantState.REMOVED, LeaveReason.REMOVED)

    def end_session(self, actor_id: str | None, reason: str = "ended") -> list[RoomEvent]:
        """End the session for everyone. ``actor_id`` None: the system (the session clock)."""
        if actor_id is not None:
            self._actor(actor_id, Command.END_SESSION)
        self._ensure_open()
        self.audit.record(self._clock.now(), actor_id, None, "end_session")
        return self._close(ended_by=actor_id, reason=reason)

    def end_by_operator(self, operator_id: str, reason: str) -> list[RoomEvent]:
        """An operator ends a session (a runaway room, an incident). Operators do nothing
        else inside rooms, and must say why: the reason goes into the audit trail."""
        self._ensure_open()
        reason = reason.strip()
        if not reason:
            raise InvalidCommand("an operator ending a session must give a reason")
        self.audit.record(self._clock.now(), operator_id, None, "end_session_by_operator", reason)
        return self._close(ended_by=None, reason="ended_by_operator")

    def _close(self, *, ended_by: str | None, reason: str) -> list[RoomEvent]:
        for participant in list(self._present.values()):
            participant.move_to(ParticipantState.LEFT)
        self._present.clear()
        self.hands.clear()
        self.round = None
        self.floor = Floor()
        self.talk_time.clear()  # talk time lives only as long as the session
        self.check_ins.clear()
        self.spotlight_id = None
        self.screen_sharer_id = None
        self._may_share_screen.clear()
        self.side_rooms.clear()
        self.ended = True
        return [SessionEnded(ended_by=ended_by, reason=reason)]

    # -- the durable record ---------------------------------------------------------

    def to_record(self) -> RoomRecord:
        """Everything this room must not forget, JSON-able and versioned (rooms.record
        lists what is in it, and why talk time is not)."""
        return {
            "version": RECORD_VERSION,
            "room_id": self.room_id,
            "title": self.title,
            "ground_rules": self.ground_rules,
            "settings": encode_settings(self.settings),
            "schedule": encode_schedule(self.schedule),
            "created_at": self.created_at,
            "ended": self.ended,
            "facilitated_since": self._facilitated_since,
            "participants": [encode_participant(p) for p in self._present.values()],
            "ever_admitted": sorted(self._ever_admitted),
            "barred": sorted(self._barred),
            "holds_of_departed": encode_holds(self._holds_of_departed),
            "hands": encode_hands(self.hands),
            "floor": encode_floor(self.floor),
            "round": encode_round(self.round),
            "end_warnings_given": sorted(self._end_warnings_given),
            "joins": self._joins,
            "chat_messages": self._chat_messages,
            "audit": encode_audit(self.audit),
            "check_ins": encode_check_ins(self.check_ins),
            "spotlight_id": self.spotlight_id,
            "screen_sharer_id": self.screen_sharer_id,
            "may_share_screen": sorted(self._may_share_screen),
            "side_rooms": self.side_rooms.to_record(),
        }

    @classmethod
    def from_record(cls, data: RoomRecord, clock: Clock) -> Room:
        """The room as its record left it. Who was present is present again: a restored
        room waits for them to reconnect (``restored`` puts them under the grace period)."""
        check_version(data)
        try:
            room = cls(
                str(data["room_id"]),
                clock,
                title=str(data["title"]),
                ground_rules=str(data["ground_rules"]),
                settings=decode_settings(data["settings"]),
                schedule=decode_schedule(data["schedule"]),
            )
            room.created_at = float(data["created_at"])
            room.ended = bool(data["ended"])
            room._facilitated_since = data["facilitated_since"]
            participants = [decode_participant(p) for p in data["participants"]]
            room._present = {p.id: p for p in participants}
            room._ever_admitted = {str(pid) for pid in data["ever_admitted"]}
            room._barred = {str(pid) for pid in data["barred"]}
            room._holds_of_departed = decode_holds(data["holds_of_departed"])
            room.hands = decode_hands(data["hands"])
            room.floor = decode_floor(data["floor"])
            room.round = decode_round(data["round"])
            room._end_warnings_given = {int(m) for m in data["end_warnings_given"]}
            room._joins = int(data["joins"])
            room._chat_messages = int(data["chat_messages"])
            room.audit = decode_audit(data["audit"])
            # In-room state added after the first records: absent means none.
            room.check_ins = decode_check_ins(data.get("check_ins", []))
            spotlight, sharer = data.get("spotlight_id"), data.get("screen_sharer_id")
            room.spotlight_id = None if spotlight is None else str(spotlight)
            room.screen_sharer_id = None if sharer is None else str(sharer)
            room._may_share_screen = {str(pid) for pid in data.get("may_share_screen", [])}
            side_rooms = data.get("side_rooms")
            if side_rooms is not None:
                room.side_rooms = SideRooms.from_record(side_rooms)
        except (KeyError, TypeError, ValueError) as error:
            raise RecordError(f"room record is damaged: {type(error).__name__}: {error}") from error
        return room

    # -- internals ---------------------------------------------------------------

    def _ensure_open(self) -> None:
        if self.ended:
            raise RoomEnded("this session has ended")

    def _needs_consent_for(self, role: Role) -> bool:
        return bool(self.ground_rules) and not role.facilitates

    def _is_full(self) -> bool:
        return sum(1 for _ in self.admitted()) >= self.settings.capacity

    def _admit(self, participant: Participant) -> list[RoomEvent]:
        participant.move_to(ParticipantState.ADMITTED)
        self._ever_admitted.add(participant.id)
        if participant.role.facilitates and self._facilitated_since is None:
            self._facilitated_since = self._clock.now()
        events: list[RoomEvent] = [ParticipantAdmitted(self.view(participant))]
        # Late joiners go to the end of a running round.
        running = self.round
        if (
            running is not None
            and participant.role is Role.MEMBER
            and running.add_late(participant.id)
        ):
            events.append(RoundChanged(running.view()))
        return events

    def _depart(
        self, participant: Participant, state: ParticipantState, reason: LeaveReason
    ) -> list[RoomEvent]:
        was_waiting = participant.state is ParticipantState.WAITING
        holds = frozenset(d for d in Device if participant.device(d).held)
        if holds and state is ParticipantState.LEFT:
            self._holds_of_departed[participant.id] = holds
        participant.move_to(state)
        del self._present[participant.id]
        if state is ParticipantState.LEFT:  # removals and denials are the actor's records
            self.audit.record(self._clock.now(), None, participant.id, f"leave_{reason}")
        left = (WaitingParticipantLeft if was_waiting else ParticipantLeft)(participant.id, reason)
        events: list[RoomEvent] = [left]
        now = self._clock.now()
        if self.hands.lower_hand(participant.id):
            events.append(HandQueueChanged(tuple(self.hands)))
        # Facilitators learn of the departure from ParticipantLeft; an open request goes
        # with the person, and nothing more about it needs telling.
        self.check_ins.close(participant.id)
        if self.spotlight_id == participant.id:
            self.spotlight_id = None
            events.append(SpotlightChanged(None))
        if self.screen_sharer_id == participant.id:
            self.screen_sharer_id = None
            events.append(ScreenShareChanged(None))
        if self.side_rooms.move(participant.id, None):
            events.append(SideRoomsChanged(self.side_rooms.views()))
        if self.talk_time.stop(participant.id, now):
            events.append(SpeakingChanged(participant.id, speaking=False))
        if self.round is not None:
            was_speaking = self.round.drop(participant.id, now)
            events += (
                self._after_round_moved() if was_speaking else [RoundChanged(self.round.view())]
            )
        elif self.floor.holder_id == participant.id:
            self.floor.release()
            events.append(FloorChanged(self.floor.view()))
        return events

    def _actor(self, actor_id: str, command: Command) -> Participant:
        self._ensure_open()
        actor = self.participant(actor_id)
        check_permission(actor.role, command)
        if actor.state is not ParticipantState.ADMITTED:
            raise NotInRoom("you are still in the waiting room")
        return actor

    def _moderation_target(self, actor_id: str, target_id: str) -> Participant:
        """Moderation acts on people in the session. Someone still waiting is admitted
        or denied, nothing else: any other event about them would reach the room, and
        only facilitators may learn who is waiting."""
        actor = self.participant(actor_id)
        target = self.participant(target_id)
        if target_id == actor_id:
            raise InvalidCommand("use your own controls for yourself")
        if target.state is not ParticipantState.ADMITTED:
            raise NotAdmitted("this person is still in the waiting room: admit or deny them")
        # Equal rank is no rank: one facilitator never moderates another of the same role.
        if target.role.rank > actor.role.rank or (
            target.role.facilitates and target.role.rank == actor.role.rank
        ):
            raise PermissionDenied(f"a {actor.role} may not do that to a {target.role}")
        return target

    def _speaker(self, participant_id: str) -> Participant:
        """Someone who may hold the floor: admitted, and not an observer."""
        participant = self.participant(participant_id)
        if participant.state is not ParticipantState.ADMITTED:
            raise NotInRoom("this person is still in the waiting room")
        if participant.role is Role.OBSERVER:
            raise InvalidCommand("observers do not speak in the session")
        return participant

    def _waiting_participant(self, target_id: str) -> Participant:
        target = self.participant(target_id)
        if target.state is not ParticipantState.WAITING:
            raise NotWaiting("this person is not in the waiting room")
        return target

    def _change_settings(self, actor_id: str, action: str, **changes: bool) -> list[RoomEvent]:
        updated = replace(self.settings, **changes)
        if updated == self.settings:
            return []
        self.settings = updated
        self.audit.record(self._clock.now(), actor_id, None, action)
        return [SettingsChanged(updated)]

    def _media_changed(self, participant: Participant, by: str | None = None) -> MediaChanged:
        return MediaChanged(participant.id, participant.microphone, participant.camera, by=by)


def _may(participant: Participant, command: Command) -> bool:
    return participant.role in PERMISSIONS[command]


def _turn_length(seconds: float) -> float:
    if not 0 < seconds <= MAX_TURN_S:
        raise InvalidCommand(f"a time limit is between 0 and {int(MAX_TURN_S)} seconds")
    return float(seconds)
