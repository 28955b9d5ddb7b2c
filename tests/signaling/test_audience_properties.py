"""The privacy rules as properties: under any sequence of room commands, by anyone, on
anyone (waiting, admitted, gone, removed, unknown), no event naming someone who has
never been admitted reaches anyone but the facilitators and that person, and a
waiting participant receives nothing of the room but what docs/protocol.md allows
(the ground rules, the end of the session, their own departure); and a request to
check in reaches the facilitators and the member who asked, nobody else.

Who receives an event is decided by ``signaling.audience.receives``, the function the
server delivers with; payloads are encoded by ``signaling.wire`` as on the wire."""

from __future__ import annotations

import json
from collections.abc import Callable

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from rooms import Device, FixedClock, Identity, ParticipantState, Role, Room, RoomError
from rooms.events import (
    CheckInChanged,
    GroundRulesChanged,
    LeaveReason,
    ParticipantLeft,
    RoomEvent,
    SessionEnded,
)
from rooms.rounds import RoundOrder
from rooms.schedule import Schedule
from signaling.audience import receives
from signaling.wire import encode_event, encode_snapshot

ROLES = {
    "p_fac": Role.FACILITATOR,
    "p_co": Role.COFACILITATOR,
    "p_ana": Role.MEMBER,
    "p_ben": Role.MEMBER,
    "p_cleo": Role.MEMBER,
    "p_dan": Role.MEMBER,
    "p_obs": Role.OBSERVER,
}
PEOPLE = list(ROLES)
people = st.sampled_from(PEOPLE)
# Commands may aim at anyone, including someone who never came.
targets = st.sampled_from([*PEOPLE, "p_nobody"])
devices = st.sampled_from(list(Device))
texts = st.sampled_from(["hello", "I can't get in", "back in five"])


def name_of(pid: str) -> str:
    return f"Person {pid[2:].title()}"


def mentions(text: str, pid: str) -> bool:
    return json.dumps(pid) in text or json.dumps(name_of(pid)) in text


# What a waiting participant may receive (docs/protocol.md, "Server → client").
def allowed_while_waiting(event: RoomEvent, recipient: str) -> bool:
    if isinstance(event, SessionEnded | GroundRulesChanged):
        return True
    return isinstance(event, ParticipantLeft) and event.participant_id == recipient


class AudienceMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FixedClock()
        self.room = Room("r", self.clock, ground_rules="What is said here stays here.")
        self.joined: set[str] = set()
        self.ever_admitted: set[str] = set()

    @initialize(members=st.lists(st.sampled_from(["p_ana", "p_ben", "p_obs"]), unique=True))
    def a_session_under_way(self, members: list[str]) -> None:
        """Start where leaks can happen: a facilitator in, some people admitted."""
        self.join("p_fac", mic=True, cam=True)
        for member in members:
            self.join(member, mic=True, cam=False)
            self.accept_ground_rules(member)
            self.admit("p_fac", member)

    # -- running a command and checking who hears of it ------------------------------

    def run(self, command: Callable[[], list[RoomEvent]]) -> None:
        was_waiting = {p.id for p in self.room.waiting()}
        try:
            events = command()
        except RoomError:
            return
        self.ever_admitted |= {p.id for p in self.room.admitted()}
        private = self.joined - self.ever_admitted
        for event in events:
            _, payload = encode_event(event)
            text = json.dumps(payload)
            for recipient in self.joined:
                if not receives(self.room, recipient, event):
                    continue
                for person in private - {recipient}:
                    assert not mentions(text, person) or self.facilitates(recipient), (
                        f"{type(event).__name__} naming waiting {person} reached {recipient}"
                    )
                if isinstance(event, CheckInChanged):
                    assert recipient == event.participant_id or self.facilitates(recipient), (
                        f"{event.participant_id}'s check-in reached {recipient}"
                    )
                waiting_now = recipient in {p.id for p in self.room.waiting()}
                left_from_waiting = recipient in was_waiting and not self.room.is_present(recipient)
                if waiting_now or left_from_waiting:
                    assert allowed_while_waiting(event, recipient), (
                        f"waiting {recipient} received {type(event).__name__}"
                    )

    def facilitates(self, pid: str) -> bool:
        if not self.room.is_present(pid):
            return False
        participant = self.room.participant(pid)
        return participant.state is ParticipantState.ADMITTED and participant.role.facilitates

    # -- arriving and leaving ----------------------------------------------------------

    @rule(who=people, mic=st.booleans(), cam=st.booleans())
    def join(self, who: str, mic: bool, cam: bool) -> None:
        identity = Identity(who, name_of(who), ROLES[who])
        self.joined.add(who)
        self.run(lambda: self.room.join(identity, microphone=mic, camera=cam))

    @rule(who=targets, disconnected=st.booleans())
    def leave(self, who: str, disconnected: bool) -> None:
        reason = LeaveReason.DISCONNECTED if disconnected else LeaveReason.LEFT
        self.run(lambda: self.room.leave(who, reason))

    @rule(who=targets)
    def accept_ground_rules(self, who: str) -> None:
        self.run(lambda: self.room.accept_ground_rules(who))

    @rule(actor=people, subject=targets)
    def admit(self, actor: str, subject: str) -> None:
        self.run(lambda: self.room.admit(actor, subject))

    @rule(actor=people)
    def admit_all(self, actor: str) -> None:
        self.run(lambda: self.room.admit_all(actor))

    @rule(actor=people, subject=targets)
    def deny(self, actor: str, subject: str) -> None:
        self.run(lambda: self.room.deny(actor, subject))

    @rule(actor=people, subject=targets)
    def remove(self, actor: str, subject: str) -> None:
        self.run(lambda: self.room.remove(actor, subject))

    # -- settings and moderation -------------------------------------------------------

    @rule(actor=people, on=st.booleans(), which=st.integers(0, 4))
    def update_settings(self, actor: str, on: bool, which: int) -> None:
        change = (
            self.room.lock,
            self.room.set_auto_admit,
            self.room.set_self_unmute,
            self.room.set_chat_enabled,
            self.room.set_spotlight_follows_floor,
        )[which]
        self.run(lambda: change(actor, on))

    @rule(actor=people, device=devices, on=st.booleans())
    def set_own_media(self, actor: str, device: Device, on: bool) -> None:
        self.run(lambda: self.room.set_own_media(actor, device, on))

    @rule(actor=people, subject=targets, device=devices)
    def mute(self, actor: str, subject: str, device: Device) -> None:
        self.run(lambda: self.room.mute(actor, subject, device))

    @rule(actor=people)
    def mute_all(self, actor: str) -> None:
        self.run(lambda: self.room.mute_all(actor))

    @rule(actor=people, subject=targets, device=devices)
    def ask_to_unmute(self, actor: str, subject: str, device: Device) -> None:
        self.run(lambda: self.room.ask_to_unmute(actor, subject, device))

    @rule(actor=people, device=devices, accept=st.booleans())
    def answer_unmute_request(self, actor: str, device: Device, accept: bool) -> None:
        self.run(lambda: self.room.answer_unmute_request(actor, device, accept))

    @rule(actor=people, subject=targets, device=devices)
    def allow_unmute(self, actor: str, subject: str, device: Device) -> None:
        self.run(lambda: self.room.allow_unmute(actor, subject, device))

    @rule(actor=people)
    def raise_hand(self, actor: str) -> None:
        self.run(lambda: self.room.raise_hand(actor))

    @rule(actor=people, subject=st.none() | targets)
    def lower_hand(self, actor: str, subject: str | None) -> None:
        self.run(lambda: self.room.lower_hand(actor, subject))

    @rule(actor=people, text=texts, to_facilitators=st.booleans())
    def send_chat(self, actor: str, text: str, to_facilitators: bool) -> None:
        self.run(lambda: self.room.send_chat(actor, text, to_facilitators=to_facilitators))

    # -- checking in, the spotlight ------------------------------------------------------

    @rule(actor=people)
    def request_check_in(self, actor: str) -> None:
        self.run(lambda: self.room.request_check_in(actor))

    @rule(actor=people)
    def cancel_check_in(self, actor: str) -> None:
        self.run(lambda: self.room.cancel_check_in(actor))

    @rule(actor=people, subject=targets)
    def acknowledge_check_in(self, actor: str, subject: str) -> None:
        self.run(lambda: self.room.acknowledge_check_in(actor, subject))

    @rule(actor=people, subject=targets)
    def spotlight(self, actor: str, subject: str) -> None:
        self.run(lambda: self.room.spotlight(actor, subject))

    @rule(actor=people)
    def clear_spotlight(self, actor: str) -> None:
        self.run(lambda: self.room.clear_spotlight(actor))

    @rule(actor=people)
    def start_screen_share(self, actor: str) -> None:
        self.run(lambda: self.room.start_screen_share(actor))

    @rule(actor=people, subject=st.none() | targets)
    def stop_screen_share(self, actor: str, subject: str | None) -> None:
        self.run(lambda: self.room.stop_screen_share(actor, subject))

    @rule(
        actor=people,
        chosen=st.lists(targets, min_size=1, max_size=3, unique=True),
        seconds=st.none() | st.just(60.0),
    )
    def open_side_room(self, actor: str, chosen: list[str], seconds: float | None) -> None:
        self.run(lambda: self.room.open_side_room(actor, chosen, seconds))

    @rule(actor=people, subject=targets, side=st.sampled_from([None, "side-1", "side-2"]))
    def move_to_side_room(self, actor: str, subject: str, side: str | None) -> None:
        self.run(lambda: self.room.move_to_side_room(actor, subject, side))

    @rule(actor=people, side=st.sampled_from(["side-1", "side-2"]))
    def close_side_room(self, actor: str, side: str) -> None:
        self.run(lambda: self.room.close_side_room(actor, side))

    @rule(actor=people)
    def bring_everyone_back(self, actor: str) -> None:
        self.run(lambda: self.room.bring_everyone_back(actor))

    @rule(actor=people, subject=targets, allowed=st.booleans())
    def allow_screen_share(self, actor: str, subject: str, allowed: bool) -> None:
        self.run(lambda: self.room.allow_screen_share(actor, subject, allowed))

    # -- the floor, rounds, the clock --------------------------------------------------

    @rule(actor=people, on=st.booleans())
    def set_floor_mode(self, actor: str, on: bool) -> None:
        self.run(lambda: self.room.set_floor_mode(actor, on))

    @rule(actor=people, subject=st.none() | targets, seconds=st.none() | st.just(60.0))
    def give_floor(self, actor: str, subject: str | None, seconds: float | None) -> None:
        self.run(lambda: self.room.give_floor(actor, subject, seconds))

    @rule(actor=people)
    def take_back_floor(self, actor: str) -> None:
        self.run(lambda: self.room.take_back_floor(actor))

    @rule(actor=people)
    def yield_floor(self, actor: str) -> None:
        self.run(lambda: self.room.yield_floor(actor))

    @rule(
        actor=people,
        order=st.sampled_from(list(RoundOrder)),
        chosen=st.none() | st.lists(targets, min_size=1, max_size=3, unique=True),
    )
    def start_round(self, actor: str, order: RoundOrder, chosen: list[str] | None) -> None:
        self.run(lambda: self.room.start_round(actor, order, chosen=chosen, turn_seconds=30))

    @rule(actor=people, passed=st.booleans())
    def finish_turn(self, actor: str, passed: bool) -> None:
        self.run(lambda: self.room.finish_turn(actor, passed=passed))

    @rule(actor=people)
    def skip_turn(self, actor: str) -> None:
        self.run(lambda: self.room.skip_turn(actor))

    @rule(actor=people)
    def extend_turn(self, actor: str) -> None:
        self.run(lambda: self.room.extend_turn(actor, 30))

    @rule(actor=people)
    def end_round(self, actor: str) -> None:
        self.run(lambda: self.room.end_round(actor))

    @rule(actor=people, text=st.sampled_from(["Be kind.", "Listen first.", ""]))
    def set_ground_rules(self, actor: str, text: str) -> None:
        self.run(lambda: self.room.set_ground_rules(actor, text))

    @rule(actor=people, hard_end=st.booleans())
    def set_schedule(self, actor: str, hard_end: bool) -> None:
        now = self.clock.now()
        schedule = Schedule(now, now + 900, hard_end, now + 300)
        self.run(lambda: self.room.set_schedule(actor, schedule))

    @rule(who=targets, speaking=st.booleans())
    def speaking_changed(self, who: str, speaking: bool) -> None:
        self.run(lambda: self.room.speaking_changed(who, speaking))

    @rule(seconds=st.sampled_from([1.0, 20.0, 200.0]))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.run(self.room.tick)

    @rule(actor=people)
    def end_session(self, actor: str) -> None:
        self.run(lambda: self.room.end_session(actor))

    @invariant()
    def members_see_no_one_elses_check_in(self) -> None:
        for participant in list(self.room.admitted()):
            snapshot = self.room.snapshot_for(participant.id)
            if not participant.role.facilitates:
                assert {r.participant_id for r in snapshot.check_ins} <= {participant.id}

    # -- what a waiting participant sees of the room -----------------------------------

    @invariant()
    def a_waiting_snapshot_shows_only_themself_and_the_rules(self) -> None:
        for waiting in list(self.room.waiting()):
            snapshot = encode_snapshot(self.room.snapshot_for(waiting.id))
            assert snapshot["participants"] == [] and snapshot["waiting"] == []
            assert snapshot["hand_queue"] == [] and snapshot["speaking"] == []
            assert snapshot["floor"] is None and snapshot["round"] is None
            assert snapshot["talk_balance"] is None
            assert snapshot["spotlight_id"] is None and snapshot["check_ins"] == []
            assert snapshot["screen_sharer_id"] is None and snapshot["screen_share_allowed"] == []
            assert snapshot["side_rooms"] == []
            text = json.dumps(snapshot)
            assert not any(mentions(text, other) for other in self.joined - {waiting.id})


AudienceMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None
)
test_audiences_keep_the_waiting_room_private = AudienceMachine.TestCase
