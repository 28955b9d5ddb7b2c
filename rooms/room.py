"""One group session: who is in it, who waits, who can be heard, and what facilitators did.

Every public method is a command. It checks the actor's permission and the
room's state first (guard clauses that raise a named ``RoomError``), changes
nothing when it refuses, and returns the events that describe what changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from rooms.audit import AuditTrail
from rooms.clock import Clock
from rooms.errors import (
    Barred,
    ChatDisabled,
    ConsentRequired,
    InvalidCommand,
    NoPendingRequest,
    NotInRoom,
    NotWaiting,
    PermissionDenied,
    RoomEnded,
    RoomFull,
    RoomLocked,
    UnmuteNotAllowed,
)
from rooms.events import (
    ChatMessage,
    ChatPosted,
    HandQueueChanged,
    LeaveReason,
    MediaChanged,
    ParticipantAdmitted,
    ParticipantLeft,
    ParticipantView,
    ParticipantWaiting,
    PrivateChatPosted,
    RoomEvent,
    RoomSettings,
    SessionEnded,
    SettingsChanged,
    UnmuteRequestAnswered,
    UnmuteRequested,
    WaitingParticipantLeft,
)
from rooms.handqueue import HandQueue
from rooms.participant import Device, DeviceState, Identity, Participant, ParticipantState
from rooms.roles import Command, Role, check_permission

MAX_CHAT_LENGTH = 2000


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


class Room:
    def __init__(
        self,
        room_id: str,
        clock: Clock,
        *,
        title: str = "",
        ground_rules: str = "",
        settings: RoomSettings | None = None,
    ) -> None:
        self.room_id = room_id
        self.title = title
        self.ground_rules = ground_rules
        self.settings = settings or RoomSettings()
        self.created_at = clock.now()
        self.ended = False
        self.audit = AuditTrail()
        self.hands = HandQueue()
        self._clock = clock
        self._present: dict[str, Participant] = {}
        self._ever_admitted: set[str] = set()
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

    def is_present(self, participant_id: str) -> bool:
        return participant_id in self._present

    def admitted(self) -> Iterator[Participant]:
        return (p for p in self._present.values() if p.state is ParticipantState.ADMITTED)

    def waiting(self) -> Iterator[Participant]:
        return (p for p in self._present.values() if p.state is ParticipantState.WAITING)

    def facilitators_present(self) -> bool:
        return any(p.role.facilitates for p in self.admitted())

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
        )

    def may_be_heard(self, participant_id: str) -> bool:
        """Whether the server may forward this participant's audio to the room."""
        found = self._present.get(participant_id)
        return (
            found is not None
            and found.state is ParticipantState.ADMITTED
            and found.role is not Role.OBSERVER
            and found.microphone.on
        )

    def may_be_seen(self, participant_id: str) -> bool:
        found = self._present.get(participant_id)
        return (
            found is not None
            and found.state is ParticipantState.ADMITTED
            and found.role is not Role.OBSERVER
            and found.camera.on
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
        tab, a reconnect before the old connection dropped) keeps their place."""
        self._ensure_open()
        pid = identity.participant_id
        if pid in self._barred:
            raise Barred("you were removed from this session and cannot rejoin it")
        if pid in self._present:
            return []
        returning = pid in self._ever_admitted
        if self.settings.locked and not returning:
            raise RoomLocked("the facilitator has locked this session")
        direct = returning or identity.role.facilitates or self.settings.auto_admit
        if direct and self._needs_consent_for(identity.role) and not returning:
            direct = False
        if direct and self._is_full():
            raise RoomFull(f"this session is full ({self.settings.capacity} people)")
        self._joins += 1
        participant = Participant(
            identity=identity,
            state=ParticipantState.WAITING,
            joined_at=self._clock.now(),
            join_order=self._joins,
            accepted_ground_rules=returning or not self._needs_consent_for(identity.role),
        )
        self._present[pid] = participant
        for device in self._holds_of_departed.pop(pid, frozenset()):
            participant.set_device(device, DeviceState(on=False, held=True))
        for device, wanted in ((Device.MICROPHONE, microphone), (Device.CAMERA, camera)):
            if wanted and self.may_unmute_self(participant, device):
                participant.set_device(device, DeviceState(on=True))
        if not direct:
            return [ParticipantWaiting(self.view(participant))]
        self._admit(participant)
        return [ParticipantAdmitted(self.view(participant))]

    def leave(self, participant_id: str, reason: LeaveReason = LeaveReason.LEFT) -> list[RoomEvent]:
        participant = self.participant(participant_id)
        check_permission(participant.role, Command.LEAVE)
        return self._depart(participant, ParticipantState.LEFT, reason)

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
            and not self._is_full()
        )
        if admit_now:
            self._admit(participant)
            return [ParticipantAdmitted(self.view(participant))]
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
        self._admit(target)
        self.audit.record(self._clock.now(), actor_id, target_id, "admit")
        return [ParticipantAdmitted(self.view(target))]

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
            self._admit(target)
            self.audit.record(self._clock.now(), actor_id, target.id, "admit")
            events.append(ParticipantAdmitted(self.view(target)))
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

    # -- removal and the end ---------------------------------------------------

    def remove(self, actor_id: str, target_id: str) -> list[RoomEvent]:
        self._actor(actor_id, Command.REMOVE)
        target = self._moderation_target(actor_id, target_id)
        self.audit.record(self._clock.now(), actor_id, target_id, "remove")
        self._barred.add(target_id)
        return self._depart(target, ParticipantState.REMOVED, LeaveReason.REMOVED)

    def end_session(self, actor_id: str | None, reason: str = "ended") -> list[RoomEvent]:
        """End the session for everyone. ``actor_id`` None: the system (an operator, the clock)."""
        if actor_id is not None:
            self._actor(actor_id, Command.END_SESSION)
        self._ensure_open()
        self.audit.record(self._clock.now(), actor_id, None, "end_session")
        for participant in list(self._present.values()):
            participant.move_to(ParticipantState.LEFT)
        self._present.clear()
        self.hands.clear()
        self.ended = True
        return [SessionEnded(ended_by=actor_id, reason=reason)]

    # -- internals ---------------------------------------------------------------

    def _ensure_open(self) -> None:
        if self.ended:
            raise RoomEnded("this session has ended")

    def _needs_consent_for(self, role: Role) -> bool:
        return bool(self.ground_rules) and not role.facilitates

    def _is_full(self) -> bool:
        return sum(1 for _ in self.admitted()) >= self.settings.capacity

    def _admit(self, participant: Participant) -> None:
        participant.move_to(ParticipantState.ADMITTED)
        self._ever_admitted.add(participant.id)

    def _depart(
        self, participant: Participant, state: ParticipantState, reason: LeaveReason
    ) -> list[RoomEvent]:
        was_waiting = participant.state is ParticipantState.WAITING
        holds = frozenset(d for d in Device if participant.device(d).held)
        if holds and state is ParticipantState.LEFT:
            self._holds_of_departed[participant.id] = holds
        participant.move_to(state)
        del self._present[participant.id]
        events: list[RoomEvent] = []
        if self.hands.lower_hand(participant.id):
            events.append(HandQueueChanged(tuple(self.hands)))
        left = (WaitingParticipantLeft if was_waiting else ParticipantLeft)(participant.id, reason)
        events.insert(0, left)
        return events

    def _actor(self, actor_id: str, command: Command) -> Participant:
        self._ensure_open()
        actor = self.participant(actor_id)
        check_permission(actor.role, command)
        if actor.state is not ParticipantState.ADMITTED:
            raise NotInRoom("you are still in the waiting room")
        return actor

    def _moderation_target(self, actor_id: str, target_id: str) -> Participant:
        actor = self.participant(actor_id)
        target = self.participant(target_id)
        if target_id == actor_id:
            raise InvalidCommand("use your own controls for yourself")
        if target.role.rank > actor.role.rank:
            raise PermissionDenied(f"a {actor.role} may not do that to the {target.role}")
        return target

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
