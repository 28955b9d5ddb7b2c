"""A dropped connection is not a departure: the grace period keeps the person's place."""

from __future__ import annotations

import pytest

from rooms import Device, FixedClock, ParticipantState, Role, Room
from rooms.errors import RoomFull
from rooms.events import (
    LeaveReason,
    ParticipantLeft,
    ParticipantReconnecting,
    RoundChanged,
    SeatTakenOver,
    WaitingParticipantReconnecting,
)
from rooms.rounds import RoundOrder, TurnOutcome
from tests.rooms.conftest import admitted, identity


def test_a_drop_keeps_the_place_and_tells_the_room(room: Room) -> None:
    admitted(room, "p_a", microphone=True)
    room.raise_hand("p_a")
    events = room.connection_lost("p_a")
    assert events == [ParticipantReconnecting("p_a", reconnecting=True)]
    me = room.participant("p_a")
    assert me.state is ParticipantState.ADMITTED and me.reconnecting
    assert list(room.hands) == ["p_a"]
    assert room.snapshot_for("p_fac").participants[-1].reconnecting


def test_coming_back_within_the_grace_period_is_the_same_person(
    room: Room, clock: FixedClock
) -> None:
    admitted(room, "p_a")
    admitted(room, "p_b")
    room.raise_hand("p_b")
    room.raise_hand("p_a")
    room.connection_lost("p_b")
    clock.advance(29)
    assert room.tick() == []
    events = room.join(identity("p_b"))
    assert events == [ParticipantReconnecting("p_b", reconnecting=False)]
    assert list(room.hands) == ["p_b", "p_a"]
    assert not room.snapshot_for("p_b").you.reconnecting
    # Coming back again on a connection that never dropped takes the seat over.
    assert room.join(identity("p_b")) == [SeatTakenOver("p_b")]


def test_after_the_grace_period_they_leave_as_disconnected(room: Room, clock: FixedClock) -> None:
    admitted(room, "p_a")
    room.raise_hand("p_a")
    room.connection_lost("p_a")
    clock.advance(room.reconnect_grace_s)
    events = room.tick()
    assert ParticipantLeft("p_a", LeaveReason.DISCONNECTED) in events
    assert not room.is_present("p_a")
    assert list(room.hands) == []


def test_the_grace_period_is_the_rooms_own(clock: FixedClock) -> None:
    room = Room("r", clock, reconnect_grace_s=5)
    room.join(identity("p_fac", Role.FACILITATOR))
    room.connection_lost("p_fac")
    clock.advance(4.9)
    assert room.tick() == []
    clock.advance(0.1)
    assert ParticipantLeft("p_fac", LeaveReason.DISCONNECTED) in room.tick()


def test_a_timed_turn_keeps_running_and_can_be_skipped(room: Room, clock: FixedClock) -> None:
    for pid in ("p_a", "p_b", "p_c"):
        admitted(room, pid)
    room.start_round("p_fac", RoundOrder.JOIN, turn_seconds=20)
    room.connection_lost("p_a")
    assert room.round is not None and room.round.current_id == "p_a"
    assert room.floor.holder_id == "p_a"
    clock.advance(20)
    room.tick()
    assert room.round.view().outcomes == (("p_a", TurnOutcome.TIMED_OUT),)
    room.connection_lost("p_b")
    room.skip_turn("p_fac")
    assert room.round.view().outcomes[-1] == ("p_b", TurnOutcome.SKIPPED)


def test_an_untimed_turn_waits_for_the_speaker(room: Room, clock: FixedClock) -> None:
    for pid in ("p_a", "p_b"):
        admitted(room, pid)
    room.start_round("p_fac", RoundOrder.JOIN)
    room.connection_lost("p_a")
    clock.advance(10)
    room.tick()
    room.join(identity("p_a"))
    assert room.round is not None and room.round.current_id == "p_a"
    events = room.finish_turn("p_a", passed=False)
    assert any(isinstance(e, RoundChanged) for e in events)


def test_capacity_and_the_lock_never_refuse_a_returning_participant(clock: FixedClock) -> None:
    from rooms.events import RoomSettings

    room = Room("r", clock, settings=RoomSettings(capacity=2))
    room.join(identity("p_fac", Role.FACILITATOR))
    room.set_auto_admit("p_fac", True)
    room.join(identity("p_a"))
    room.connection_lost("p_a")
    with pytest.raises(RoomFull):  # the seat is still p_a's
        room.join(identity("p_b"))
    room.lock("p_fac", True)
    room.join(identity("p_a"))
    assert room.participant("p_a").state is ParticipantState.ADMITTED


def test_holds_and_floor_are_kept(room: Room) -> None:
    admitted(room, "p_a", microphone=True)
    room.mute("p_fac", "p_a", Device.MICROPHONE)
    room.give_floor("p_fac", "p_a")
    room.connection_lost("p_a")
    room.join(identity("p_a"), microphone=True)
    me = room.participant("p_a")
    assert me.microphone.held and not me.microphone.on
    assert room.floor.holder_id == "p_a"


def test_a_waiting_persons_drop_is_for_facilitators_only(room: Room) -> None:
    room.join(identity("p_w"))
    events = room.connection_lost("p_w")
    assert events == [WaitingParticipantReconnecting("p_w", reconnecting=True)]
    room.admit("p_fac", "p_w")  # admission while away holds when they come back
    room.join(identity("p_w"))
    assert room.participant("p_w").state is ParticipantState.ADMITTED


def test_drops_and_returns_are_in_the_audit_trail(room: Room) -> None:
    admitted(room, "p_a")
    room.connection_lost("p_a")
    room.join(identity("p_a"))
    actions = [(r.target_id, r.action) for r in room.audit_records("p_fac")]
    assert ("p_a", "connection_lost") in actions and ("p_a", "reconnected") in actions


def test_nothing_happens_for_someone_not_here_or_after_the_end(room: Room) -> None:
    assert room.connection_lost("p_nobody") == []
    admitted(room, "p_a")
    room.end_session("p_fac")
    assert room.connection_lost("p_a") == []
