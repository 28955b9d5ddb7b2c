"""Properties of hands, the floor and go-around rounds under any sequence of events."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rooms import Device, FixedClock, Identity, Role, Room, RoomError
from rooms.events import LeaveReason
from rooms.rounds import GoAround, RoundOrder, TurnOutcome

MEMBERS = [f"p_m{i}" for i in range(6)]
members = st.sampled_from(MEMBERS)
FACILITATORS = ("p_fac", "p_co")


class RoundMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FixedClock()
        self.room = Room("r", self.clock)
        self.room.join(Identity("p_fac", "Fac", Role.FACILITATOR), microphone=True)
        self.room.join(Identity("p_co", "Co", Role.COFACILITATOR), microphone=True)
        self.room.set_auto_admit("p_fac", True)
        for pid in MEMBERS[:4]:
            self.room.join(Identity(pid, pid, Role.MEMBER), microphone=True)
        self.round: GoAround | None = None
        self.present_throughout: set[str] = set()
        self.last_order: tuple[str, ...] = ()
        self.hands_seen: list[str] = []
        # Members whose connection dropped while their turn was still to come (or theirs).
        self.dropped_in_round: set[str] = set()

    def attempt(self, command: object) -> bool:
        try:
            command()  # type: ignore[operator]
        except RoomError:
            return False
        return True

    # -- rounds ---------------------------------------------------------------

    @precondition(lambda self: self.room.round is None)
    @rule(
        order=st.sampled_from([RoundOrder.JOIN, RoundOrder.SHUFFLED]),
        seconds=st.one_of(st.none(), st.integers(20, 120)),
        seed=st.integers(0, 1000),
    )
    def start_round(self, order: RoundOrder, seconds: int | None, seed: int) -> None:
        started = self.attempt(
            lambda: self.room.start_round("p_fac", order, turn_seconds=seconds, shuffle_seed=seed)
        )
        if started:
            self.round = self.room.round
            assert self.round is not None
            self.present_throughout = set(self.round.view().order)
            self.dropped_in_round.clear()
            self.last_order = self.round.view().order

    @precondition(lambda self: self.room.round is not None)
    @rule(passed=st.booleans())
    def speaker_finishes(self, passed: bool) -> None:
        assert self.room.round is not None
        speaker = self.room.round.current_id
        assert speaker is not None
        self.room.finish_turn(speaker, passed=passed)
        self.check_completed_round()

    @precondition(lambda self: self.room.round is not None)
    @rule()
    def facilitator_skips(self) -> None:
        self.room.skip_turn("p_co")
        self.check_completed_round()

    @precondition(lambda self: self.room.round is not None)
    @rule(seconds=st.integers(10, 60))
    def facilitator_extends(self, seconds: int) -> None:
        self.room.extend_turn("p_fac", seconds)

    @rule(seconds=st.integers(1, 90))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds)
        self.room.tick()
        # Whoever stayed away past the grace period has left.
        self.present_throughout &= {p.id for p in self.room.admitted()}
        self.check_completed_round()

    @precondition(lambda self: self.room.round is not None)
    @rule()
    def facilitator_ends_round(self) -> None:
        self.room.end_round("p_fac")
        self.round = None

    # -- people come and go ----------------------------------------------------

    @rule(who=members)
    def leave(self, who: str) -> None:
        if self.attempt(lambda: self.room.leave(who, LeaveReason.DISCONNECTED)):
            self.present_throughout.discard(who)
            self.check_completed_round()

    @rule(who=members)
    def connection_drops(self, who: str) -> None:
        had_hand = who in self.room.hands
        in_round = (
            self.room.is_present(who)
            and self.room.round is not None
            and who in self.room.round.view().order
            and (who, TurnOutcome.LEFT) not in self.room.round.view().outcomes
        )
        self.room.connection_lost(who)
        # A drop is not a departure: the hand and the turn stay theirs.
        assert (who in self.room.hands) == had_hand
        if in_round:
            self.dropped_in_round.add(who)
            assert self.room.round is not None and who in self.room.round.view().order
            assert (who, TurnOutcome.LEFT) not in self.room.round.view().outcomes

    @rule(who=members)
    def arrive(self, who: str) -> None:
        self.dropped_in_round.discard(who)
        self.attempt(lambda: self.room.join(Identity(who, who, Role.MEMBER), microphone=True))

    @rule(who=members)
    def raise_hand(self, who: str) -> None:
        self.attempt(lambda: self.room.raise_hand(who))

    @rule(who=members)
    def lower_hand(self, who: str) -> None:
        self.attempt(lambda: self.room.lower_hand(who))

    @precondition(lambda self: self.room.round is None)
    @rule(on=st.booleans())
    def floor_mode(self, on: bool) -> None:
        self.room.set_floor_mode("p_fac", on)

    @precondition(lambda self: self.room.round is None)
    @rule()
    def give_floor_to_next_hand(self) -> None:
        self.attempt(lambda: self.room.give_floor("p_fac"))

    @rule(who=members, on=st.booleans())
    def own_microphone(self, who: str, on: bool) -> None:
        self.attempt(lambda: self.room.set_own_media(who, Device.MICROPHONE, on))

    # -- checks ------------------------------------------------------------------

    def check_completed_round(self) -> None:
        if self.round is None or self.room.round is not None:
            return
        # Each member present for the whole round got exactly one turn.
        outcomes = self.round.view().outcomes
        for pid in self.present_throughout:
            taken = [o for who, o in outcomes if who == pid and o is not TurnOutcome.LEFT]
            assert len(taken) == 1, (pid, outcomes)
        self.round = None

    @invariant()
    def order_never_changes_under_anyone(self) -> None:
        if self.room.round is None:
            return
        order = self.room.round.view().order
        kept = [pid for pid in self.last_order if pid in order]
        assert [pid for pid in order if pid in self.last_order] == kept
        self.last_order = order

    @invariant()
    def the_floor_holder_is_always_in_the_room(self) -> None:
        holder = self.room.floor.holder_id
        if holder is not None:
            assert self.room.is_present(holder)
            assert self.room.participant(holder).state.label == "admitted"

    @invariant()
    def in_floor_mode_only_holders_and_facilitators_are_heard(self) -> None:
        if not self.room.floor_restricts:
            return
        for participant in self.room.admitted():
            if self.room.may_be_heard(participant.id):
                assert participant.id in FACILITATORS or participant.id == (
                    self.room.floor.holder_id
                )

    @invariant()
    def reconnecting_people_never_have_left_the_round(self) -> None:
        if self.room.round is None:
            return
        left = {pid for pid, o in self.room.round.view().outcomes if o is TurnOutcome.LEFT}
        for participant in self.room.admitted():
            if participant.reconnecting and participant.id in self.dropped_in_round:
                assert participant.id not in left

    @invariant()
    def the_round_speaker_holds_the_floor(self) -> None:
        if self.room.round is not None:
            assert self.room.floor.holder_id == self.room.round.current_id

    @invariant()
    def hands_are_unique_and_admitted(self) -> None:
        hands = list(self.room.hands)
        assert len(hands) == len(set(hands))
        for pid in hands:
            assert self.room.participant(pid).state.label == "admitted"


RoundMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=50, deadline=None)
TestRoundProperties = RoundMachine.TestCase
