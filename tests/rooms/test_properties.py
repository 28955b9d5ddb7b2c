"""Properties of the room under any sequence of commands, by anyone, in any order."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from rooms import Device, FixedClock, Identity, ParticipantState, Role, Room, RoomError
from rooms.events import LeaveReason, ParticipantLeft

PEOPLE = ["p_fac", "p_co", "p_a", "p_b", "p_c", "p_obs"]
ROLES = {
    "p_fac": Role.FACILITATOR,
    "p_co": Role.COFACILITATOR,
    "p_a": Role.MEMBER,
    "p_b": Role.MEMBER,
    "p_c": Role.MEMBER,
    "p_obs": Role.OBSERVER,
}
MEMBERS = ["p_a", "p_b", "p_c"]
people = st.sampled_from(PEOPLE)
devices = st.sampled_from(list(Device))


class RoomMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FixedClock()
        self.room = Room("r", self.clock, ground_rules="")
        # (member, device) pairs a facilitator switched off and has not released since.
        self.held: set[tuple[str, Device]] = set()

    def attempt(self, command: object) -> bool:
        try:
            command()  # type: ignore[operator]
        except RoomError:
            return False
        return True

    @rule(who=people, mic=st.booleans(), cam=st.booleans())
    def join(self, who: str, mic: bool, cam: bool) -> None:
        identity = Identity(who, who, ROLES[who])
        present = self.room.is_present(who)
        state = self.room.participant(who).state if present else None
        joined = self.attempt(lambda: self.room.join(identity, microphone=mic, camera=cam))
        if present and not self.room.ended:
            # Coming back (a reconnect, a second tab) is never refused, by capacity, the
            # lock or anything else, and never loses admission.
            assert joined
            assert self.room.participant(who).state is state
            assert not self.room.participant(who).reconnecting

    @rule(who=people)
    def connection_drops(self, who: str) -> None:
        present = self.room.is_present(who)
        events = self.room.connection_lost(who)
        if present and not self.room.ended:
            assert self.room.is_present(who) and self.room.participant(who).reconnecting
        if not present:
            assert events == []
        assert not any(isinstance(e, ParticipantLeft) for e in events)

    @rule(seconds=st.sampled_from([1.0, 10.0, 29.0, 31.0]))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.room.tick()

    @rule(who=people, disconnected=st.booleans())
    def leave(self, who: str, disconnected: bool) -> None:
        reason = LeaveReason.DISCONNECTED if disconnected else LeaveReason.LEFT
        self.attempt(lambda: self.room.leave(who, reason))

    @rule(actor=people, subject=people)
    def admit(self, actor: str, subject: str) -> None:
        self.attempt(lambda: self.room.admit(actor, subject))

    @rule(actor=people)
    def admit_all(self, actor: str) -> None:
        self.attempt(lambda: self.room.admit_all(actor))

    @rule(actor=people, subject=people)
    def deny(self, actor: str, subject: str) -> None:
        self.attempt(lambda: self.room.deny(actor, subject))

    @rule(actor=people, subject=people)
    def remove(self, actor: str, subject: str) -> None:
        self.attempt(lambda: self.room.remove(actor, subject))

    @rule(actor=people, device=devices, on=st.booleans())
    def set_own_media(self, actor: str, device: Device, on: bool) -> None:
        self.attempt(lambda: self.room.set_own_media(actor, device, on))

    @rule(actor=people, subject=people, device=devices)
    def mute(self, actor: str, subject: str, device: Device) -> None:
        muted = self.attempt(lambda: self.room.mute(actor, subject, device))
        if muted and not ROLES[subject].facilitates:
            self.held.add((subject, device))

    @rule(actor=people)
    def mute_all(self, actor: str) -> None:
        if self.attempt(lambda: self.room.mute_all(actor)):
            for p in self.room.admitted():
                if not p.role.facilitates:
                    self.held.add((p.id, Device.MICROPHONE))

    @rule(actor=people, subject=people, device=devices)
    def ask_to_unmute(self, actor: str, subject: str, device: Device) -> None:
        self.attempt(lambda: self.room.ask_to_unmute(actor, subject, device))

    @rule(actor=people, device=devices, accept=st.booleans())
    def answer(self, actor: str, device: Device, accept: bool) -> None:
        # Accepting a request is the member's answer to a facilitator's action: allowed.
        if self.attempt(lambda: self.room.answer_unmute_request(actor, device, accept)) and accept:
            self.held.discard((actor, device))

    @rule(actor=people, subject=people, device=devices)
    def allow_unmute(self, actor: str, subject: str, device: Device) -> None:
        if self.attempt(lambda: self.room.allow_unmute(actor, subject, device)):
            self.held.discard((subject, device))

    @rule(actor=people, allowed=st.booleans())
    def set_self_unmute(self, actor: str, allowed: bool) -> None:
        if self.attempt(lambda: self.room.set_self_unmute(actor, allowed)) and allowed:
            self.held.clear()

    @rule(actor=people, locked=st.booleans())
    def lock(self, actor: str, locked: bool) -> None:
        self.attempt(lambda: self.room.lock(actor, locked))

    @rule(actor=people)
    def raise_hand(self, actor: str) -> None:
        self.attempt(lambda: self.room.raise_hand(actor))

    @invariant()
    def facilitator_mutes_hold_until_a_facilitator_acts(self) -> None:
        for member, device in self.held:
            if not self.room.is_present(member):
                continue
            assert not self.room.participant(member).device(device).on

    @invariant()
    def roster_and_waiting_list_never_share_anyone(self) -> None:
        admitted = {p.id for p in self.room.admitted()}
        waiting = {p.id for p in self.room.waiting()}
        assert not admitted & waiting
        snapshot_for_facilitator = self.room.snapshot_for("p_fac") if "p_fac" in admitted else None
        if snapshot_for_facilitator is not None:
            roster = {v.participant_id for v in snapshot_for_facilitator.participants}
            listed_waiting = {v.participant_id for v in snapshot_for_facilitator.waiting}
            assert roster == admitted and listed_waiting == waiting

    @invariant()
    def only_admitted_people_hold_hands_or_are_heard(self) -> None:
        for pid in self.room.hands:
            assert self.room.participant(pid).state is ParticipantState.ADMITTED
        for pid in PEOPLE:
            if self.room.may_be_heard(pid):
                assert self.room.participant(pid).state is ParticipantState.ADMITTED
                assert ROLES[pid] is not Role.OBSERVER

    @invariant()
    def nobody_stays_reconnecting_past_the_grace_period(self) -> None:
        now = self.clock.now()
        for participant in self.room.admitted():
            since = participant.reconnecting_since
            # tick() runs only in time_passes: allow one step of lag, never more.
            assert since is None or now - since < self.room.reconnect_grace_s + 31.0

    @invariant()
    def capacity_is_never_exceeded(self) -> None:
        assert sum(1 for _ in self.room.admitted()) <= self.room.settings.capacity


RoomMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestRoomProperties = RoomMachine.TestCase
