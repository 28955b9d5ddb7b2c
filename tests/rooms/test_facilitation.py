"""Facilitation rules: the floor, go-around rounds, talk time, the session clock,
ground rules and the audit trail. Time-driven rules run on a FixedClock."""

from __future__ import annotations

import pytest

from rooms import Device, FixedClock, InvalidCommand, NotInRoom, PermissionDenied, Role, Room
from rooms.events import (
    FloorChanged,
    GroundRulesChanged,
    LeaveReason,
    RoundChanged,
    SessionClockWarning,
    SessionEnded,
    SpeakingChanged,
    TalkTimeChanged,
    TurnWarning,
)
from rooms.rounds import RoundOrder, TurnOutcome
from rooms.schedule import Schedule
from tests.rooms.conftest import admitted, identity

MIC = Device.MICROPHONE


@pytest.fixture
def group(room: Room) -> Room:
    """A facilitator, a co-facilitator and three members (a, b, c), all with mics on."""
    room.set_own_media("p_fac", MIC, True)
    admitted(room, "p_co", Role.COFACILITATOR, microphone=True)
    for pid in ("p_a", "p_b", "p_c"):
        admitted(room, pid, microphone=True)
    return room


class TestFloor:
    def test_floor_mode_lets_only_the_holder_and_facilitators_be_heard(self, group: Room) -> None:
        group.set_floor_mode("p_fac", True)
        assert group.may_be_heard("p_fac") and group.may_be_heard("p_co")
        assert not any(group.may_be_heard(p) for p in ("p_a", "p_b", "p_c"))
        group.give_floor("p_fac", "p_b")
        assert group.may_be_heard("p_b") and not group.may_be_heard("p_a")
        group.take_back_floor("p_fac")
        assert not group.may_be_heard("p_b")
        group.set_floor_mode("p_fac", False)
        assert group.may_be_heard("p_a")

    def test_the_floor_goes_to_the_first_raised_hand(self, group: Room) -> None:
        group.raise_hand("p_c")
        group.raise_hand("p_a")
        events = group.give_floor("p_co")
        assert group.floor.holder_id == "p_c"
        assert tuple(group.hands) == ("p_a",)
        assert any(isinstance(e, FloorChanged) for e in events)

    def test_no_hands_no_floor(self, group: Room) -> None:
        with pytest.raises(InvalidCommand):
            group.give_floor("p_fac")

    def test_the_holder_yields(self, group: Room) -> None:
        group.give_floor("p_fac", "p_a")
        with pytest.raises(InvalidCommand):
            group.yield_floor("p_b")
        group.yield_floor("p_a")
        assert group.floor.holder_id is None

    def test_a_timed_floor_returns_by_itself(self, group: Room, clock: FixedClock) -> None:
        group.give_floor("p_fac", "p_a", seconds=60)
        clock.advance(59)
        assert group.tick() == []
        clock.advance(1)
        [event] = group.tick()
        assert isinstance(event, FloorChanged) and event.floor.holder_id is None
        assert list(group.audit)[-1].action == "floor_timed_out"

    def test_the_holder_leaving_returns_the_floor(self, group: Room) -> None:
        group.give_floor("p_fac", "p_a")
        events = group.leave("p_a")
        assert group.floor.holder_id is None
        assert any(isinstance(e, FloorChanged) for e in events)

    def test_members_cannot_give_the_floor(self, group: Room) -> None:
        with pytest.raises(PermissionDenied):
            group.give_floor("p_a", "p_a")

    def test_observers_and_waiting_people_cannot_hold_it(self, group: Room) -> None:
        admitted(group, "p_o", Role.OBSERVER)
        group.join(identity("p_w"))
        with pytest.raises(InvalidCommand):
            group.give_floor("p_fac", "p_o")
        with pytest.raises(NotInRoom):
            group.give_floor("p_fac", "p_w")


class TestRounds:
    def test_a_round_in_join_order(self, group: Room) -> None:
        events = group.start_round("p_fac", RoundOrder.JOIN)
        [changed] = [e for e in events if isinstance(e, RoundChanged)]
        assert changed.round is not None
        assert changed.round.order == ("p_a", "p_b", "p_c")
        assert changed.round.current_id == "p_a" and changed.round.next_id == "p_b"
        assert group.floor.holder_id == "p_a"
        assert group.may_be_heard("p_a") and not group.may_be_heard("p_b")

    def test_done_and_pass_move_the_turn(self, group: Room) -> None:
        group.start_round("p_fac", RoundOrder.JOIN)
        with pytest.raises(InvalidCommand):
            group.finish_turn("p_b", passed=False)
        group.finish_turn("p_a", passed=False)
        group.finish_turn("p_b", passed=True)
        assert group.floor.holder_id == "p_c"
        events = group.finish_turn("p_c", passed=False)
        assert RoundChanged(None) in events
        assert group.round is None and group.floor.holder_id is None
        assert group.may_be_heard("p_a")  # floor mode was only for the round

    def test_outcomes_are_recorded(self, group: Room) -> None:
        group.start_round("p_fac", RoundOrder.JOIN)
        group.finish_turn("p_a", passed=True)
        group.skip_turn("p_co")
        assert group.round is not None
        assert group.round.view().outcomes == (
            ("p_a", TurnOutcome.PASSED),
            ("p_b", TurnOutcome.SKIPPED),
        )

    def test_timed_turns_warn_then_advance(self, group: Room, clock: FixedClock) -> None:
        group.start_round("p_fac", RoundOrder.JOIN, turn_seconds=120)
        assert group.round is not None and group.round.turn_ends_at == clock.now() + 120
        clock.advance(104)
        assert group.tick() == []
        clock.advance(1)
        [warning] = group.tick()
        assert isinstance(warning, TurnWarning) and warning.participant_id == "p_a"
        assert warning.seconds_left == 15 and warning.also_to == "p_a"
        assert group.tick() == []  # warned once
        clock.advance(15)
        events = group.tick()
        assert group.floor.holder_id == "p_b"
        assert any(isinstance(e, RoundChanged) for e in events)
        assert group.round.view().outcomes == (("p_a", TurnOutcome.TIMED_OUT),)

    def test_extend_gives_more_time_and_a_new_warning(self, group: Room, clock: FixedClock) -> None:
        group.start_round("p_fac", RoundOrder.JOIN, turn_seconds=30)
        clock.advance(20)
        assert isinstance(group.tick()[0], TurnWarning)
        group.extend_turn("p_fac", 60)
        clock.advance(10)
        assert group.tick() == []  # 60 s left now
        clock.advance(45)
        assert isinstance(group.tick()[0], TurnWarning)

    def test_late_joiners_go_last_and_leavers_are_skipped(self, group: Room) -> None:
        group.start_round("p_fac", RoundOrder.JOIN)
        group.leave("p_b", LeaveReason.DISCONNECTED)
        admitted(group, "p_late")
        assert group.round is not None
        assert group.round.view().order == ("p_a", "p_c", "p_late")
        group.leave("p_a")  # the speaker leaves: the turn moves on
        assert group.floor.holder_id == "p_c"

    def test_chosen_and_shuffled_orders(self, group: Room) -> None:
        group.start_round("p_fac", RoundOrder.CHOSEN, chosen=["p_c", "p_co", "p_a"])
        assert group.round is not None and group.round.view().order == ("p_c", "p_co", "p_a")
        group.end_round("p_fac")
        group.start_round("p_fac", RoundOrder.SHUFFLED, shuffle_seed=7)
        assert group.round is not None
        assert sorted(group.round.view().order) == ["p_a", "p_b", "p_c"]

    @pytest.mark.parametrize(
        ("order", "chosen", "seconds"),
        [
            (RoundOrder.CHOSEN, None, None),
            (RoundOrder.CHOSEN, ["p_a", "p_a"], None),
            (RoundOrder.CHOSEN, ["p_nobody"], None),
            (RoundOrder.JOIN, ["p_a"], None),
            (RoundOrder.JOIN, None, 0),
            (RoundOrder.JOIN, None, 99999),
        ],
    )
    def test_bad_rounds_are_refused(
        self, group: Room, order: RoundOrder, chosen: list[str] | None, seconds: float | None
    ) -> None:
        with pytest.raises((InvalidCommand, NotInRoom)):
            group.start_round("p_fac", order, chosen=chosen, turn_seconds=seconds)
        assert group.round is None

    def test_one_round_at_a_time_and_no_floor_games_during_it(self, group: Room) -> None:
        group.start_round("p_fac", RoundOrder.JOIN)
        with pytest.raises(InvalidCommand):
            group.start_round("p_fac", RoundOrder.JOIN)
        with pytest.raises(InvalidCommand):
            group.give_floor("p_fac", "p_c")

    def test_cofacilitators_run_rounds_members_do_not(self, group: Room) -> None:
        with pytest.raises(PermissionDenied):
            group.start_round("p_a", RoundOrder.JOIN)
        group.start_round("p_co", RoundOrder.JOIN)
        with pytest.raises(PermissionDenied):
            group.skip_turn("p_b")
        group.end_round("p_co")


class TestTalkTime:
    def test_balance_for_facilitators(self, group: Room, clock: FixedClock) -> None:
        group.speaking_changed("p_a", True)
        clock.advance(30)
        events = group.speaking_changed("p_a", False)
        assert isinstance(events[0], SpeakingChanged) and not events[0].speaking
        assert isinstance(events[1], TalkTimeChanged)
        group.speaking_changed("p_b", True)
        clock.advance(10)
        balance = group.talk_balance()
        shares = {s.participant_id: s.share for s in balance.shares}
        assert shares["p_a"] == pytest.approx(0.75) and shares["p_b"] == pytest.approx(0.25)
        assert set(balance.not_yet_spoken) == {"p_fac", "p_co", "p_c"}
        assert group.snapshot_for("p_fac").talk_balance is not None
        assert group.snapshot_for("p_a").talk_balance is None  # facilitators only

    def test_inaudible_speech_does_not_count(self, group: Room) -> None:
        group.mute("p_fac", "p_a", MIC)
        assert group.speaking_changed("p_a", True) == []

    def test_gone_when_the_session_ends(self, group: Room, clock: FixedClock) -> None:
        group.speaking_changed("p_a", True)
        clock.advance(5)
        group.end_session("p_fac")
        assert group.talk_time.seconds("p_a", clock.now()) == 0


class TestSessionClock:
    def test_warnings_at_ten_and_two_minutes(self, group: Room, clock: FixedClock) -> None:
        end = clock.now() + 30 * 60
        group.set_schedule("p_fac", Schedule(starts_at=clock.now(), ends_at=end))
        clock.advance(20 * 60 - 1)
        assert group.tick() == []
        clock.advance(1)
        assert group.tick() == [SessionClockWarning(10, end)]
        assert group.tick() == []
        clock.advance(8 * 60)
        assert group.tick() == [SessionClockWarning(2, end)]
        clock.advance(2 * 60)
        assert group.tick() == [SessionClockWarning(0, end)]  # overtime, no hard end
        assert not group.ended

    def test_a_hard_end(self, group: Room, clock: FixedClock) -> None:
        group.set_schedule("p_fac", Schedule(ends_at=clock.now() + 60, hard_end=True))
        clock.advance(60)
        events = group.tick()
        assert any(isinstance(e, SessionEnded) for e in events)
        assert group.ended

    def test_late_arrivals_wait_even_with_auto_admit(self, group: Room, clock: FixedClock) -> None:
        group.set_auto_admit("p_fac", True)
        group.set_schedule("p_fac", Schedule(late_cutoff_at=clock.now() + 600))
        admitted(group, "p_early")
        assert group.participant("p_early").state.label == "admitted"
        clock.advance(600)
        group.join(identity("p_late"))
        assert group.participant("p_late").state.label == "waiting"

    def test_schedules_are_checked(self) -> None:
        with pytest.raises(ValueError):
            Schedule(starts_at=100, ends_at=50)
        with pytest.raises(ValueError):
            Schedule(hard_end=True)


class TestGroundRulesAndRoles:
    def test_only_the_lead_facilitator_changes_ground_rules(self, group: Room) -> None:
        with pytest.raises(PermissionDenied):
            group.set_ground_rules("p_co", "New rules")
        group.join(identity("p_w"))
        [event] = group.set_ground_rules("p_fac", "Stays here.")
        assert isinstance(event, GroundRulesChanged)
        assert not group.participant("p_w").accepted_ground_rules
        assert group.participant("p_a").accepted_ground_rules  # already in: not asked again

    def test_cofacilitator_powers(self, group: Room) -> None:
        group.join(identity("p_w"))
        group.admit("p_co", "p_w")
        group.mute("p_co", "p_a", MIC)
        group.give_floor("p_co", "p_b")
        with pytest.raises(PermissionDenied):
            group.end_session("p_co")
        with pytest.raises(PermissionDenied):
            group.remove("p_co", "p_fac")
        with pytest.raises(PermissionDenied):
            group.mute("p_co", "p_fac", MIC)


class TestAuditTrail:
    def test_floor_and_round_changes_are_recorded(self, group: Room) -> None:
        group.give_floor("p_fac", "p_a")
        group.take_back_floor("p_fac")
        group.start_round("p_co", RoundOrder.JOIN)
        group.finish_turn("p_a", passed=True)
        group.skip_turn("p_fac")
        group.end_round("p_fac")
        actions = [(r.actor_id, r.target_id, r.action) for r in group.audit_records("p_fac")]
        assert actions[-6:] == [
            ("p_fac", "p_a", "give_floor"),
            ("p_fac", "p_a", "take_back_floor"),
            ("p_co", None, "start_round_join"),
            ("p_a", None, "turn_passed"),
            ("p_fac", "p_b", "skip_turn"),
            ("p_fac", None, "end_round"),
        ]

    def test_members_cannot_read_it(self, group: Room) -> None:
        with pytest.raises(PermissionDenied):
            group.audit_records("p_a")
