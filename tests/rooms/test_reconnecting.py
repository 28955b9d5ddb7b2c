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


def test_media_lost_shows_reconnecting_and_keeps_the_place_with_no_time_limit(
    room: Room, clock: FixedClock
) -> None:
    admitted(room, "p_a", microphone=True)
    admitted(room, "p_b")
    room.give_floor("p_fac", "p_a")
    room.raise_hand("p_b")
    room.raise_hand("p_a")
    room.mute("p_fac", "p_a", Device.MICROPHONE)
    assert room.media_lost("p_a") == [ParticipantReconnecting("p_a", reconnecting=True)]
    assert room.media_lost("p_a") == []  # told once
    assert room.snapshot_for("p_b").participants[1].reconnecting
    # Their connection lives and their client retries: no grace period runs.
    clock.advance(room.reconnect_grace_s * 10)
    assert room.tick() == []
    assert room.media_restored("p_a") == [ParticipantReconnecting("p_a", reconnecting=False)]
    assert room.media_restored("p_a") == []
    me = room.participant("p_a")
    assert not me.reconnecting and me.microphone.held
    assert list(room.hands) == ["p_b", "p_a"] and room.floor.holder_id == "p_a"
    actions = [(r.target_id, r.action) for r in room.audit_records("p_fac")]
    assert ("p_a", "media_lost") in actions and ("p_a", "media_restored") in actions


def test_a_facilitator_whose_media_failed_still_facilitates(room: Room) -> None:
    admitted(room, "p_a")
    room.media_lost("p_fac")
    assert room.facilitators_present()
    # Joining again on a live connection is a takeover, not a return.
    assert room.join(identity("p_fac", Role.FACILITATOR)) == [SeatTakenOver("p_fac")]


def test_a_drop_during_media_loss_starts_the_grace_period(room: Room, clock: FixedClock) -> None:
    admitted(room, "p_a")
    room.media_lost("p_a")
    assert room.connection_lost("p_a") == []  # the room sees them reconnecting already
    clock.advance(room.reconnect_grace_s - 1)
    assert room.tick() == []
    assert room.join(identity("p_a")) == [ParticipantReconnecting("p_a", reconnecting=False)]
    assert not room.participant("p_a").reconnecting
    room.media_lost("p_a")
    room.connection_lost("p_a")
    clock.advance(room.reconnect_grace_s)
    assert ParticipantLeft("p_a", LeaveReason.DISCONNECTED) in room.tick()


def test_media_of_someone_waiting_or_absent_is_not_tracked(room: Room) -> None:
    room.join(identity("p_w"))
    assert room.media_lost("p_w") == []
    assert room.media_lost("p_nobody") == []
    assert room.media_restored("p_nobody") == []


def test_a_restored_room_waits_for_everyone_under_the_grace_period(clock: FixedClock) -> None:
    room = Room("r", clock, reconnect_grace_s=10)
    room.join(identity("p_fac", Role.FACILITATOR))
    room.set_auto_admit("p_fac", True)
    room.join(identity("p_a"))
    room.join(identity("p_b"))
    room.raise_hand("p_a")
    room.media_lost("p_b")
    restored = Room.from_record(room.to_record(), clock)
    restored.reconnect_grace_s = 10
    events = restored.restored()
    assert set(events) == {
        ParticipantReconnecting(pid, reconnecting=True) for pid in ("p_fac", "p_a", "p_b")
    }
    assert all(p.reconnecting for p in restored.admitted())
    assert not restored.participant("p_b").media_lost  # a fresh start for everyone's media
    clock.advance(9)
    assert restored.tick() == []
    assert restored.join(identity("p_a")) == [ParticipantReconnecting("p_a", reconnecting=False)]
    assert list(restored.hands) == ["p_a"]
    clock.advance(1)
    left = [e for e in restored.tick() if isinstance(e, ParticipantLeft)]
    assert set(left) == {ParticipantLeft(pid, LeaveReason.DISCONNECTED) for pid in ("p_fac", "p_b")}
    assert restored.is_present("p_a")
