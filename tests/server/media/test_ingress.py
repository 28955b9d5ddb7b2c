"""The receive path's rules: sequence validation, budgets, rate-limited logging."""

from __future__ import annotations

from server.media.ingress import (
    MAX_SEQUENCE_DROPOUT,
    DropCounts,
    DropReason,
    LogReferences,
    PublishBudget,
    RateLimitedLog,
    SequenceCheck,
)
from server.monitoring.alerts import AlertKind, AlertRules, ConnectionObservation, Observation


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_lone_packet_far_ahead_is_dropped_and_the_stream_goes_on() -> None:
    check = SequenceCheck()
    assert check.check(100) is True
    assert check.check(100 + 32000) is False
    # The honest stream continues as if nothing happened.
    assert check.check(101) is True
    assert check.check(102) is True


def test_two_packets_in_sequence_after_a_jump_confirm_a_restart() -> None:
    check = SequenceCheck()
    check.check(5)
    assert check.check(40000) is False
    assert check.check(40001) == SequenceCheck.RESTARTED
    assert check.check(40002) is True


def test_late_packets_within_the_window_are_accepted_and_wrap_is_handled() -> None:
    check = SequenceCheck()
    check.check(65530)
    assert check.check(3) is True  # wrapped, 9 ahead
    assert check.check(65100) is True  # 439 behind: late or retransmitted
    assert check.near(3 + MAX_SEQUENCE_DROPOUT - 1)
    assert not check.near(3 + MAX_SEQUENCE_DROPOUT + 10)


def test_budget_refuses_beyond_its_ceiling_and_reports_once_per_window() -> None:
    clock = FakeClock()
    reported: list[float] = []
    budget = PublishBudget(
        clock, lambda: reported.append(clock.now), packets_per_s=10, bytes_per_s=10_000
    )
    assert all(budget.admit(100) for _ in range(10))
    assert not budget.admit(100)
    assert not budget.admit(100)
    assert reported == [0.0]
    clock.now = 1.0
    assert budget.admit(100)
    assert budget.exceeded_within(5.0)
    clock.now = 10.0
    assert not budget.exceeded_within(5.0)
    assert not budget.admit(20_000)  # bytes count too
    assert reported == [0.0, 10.0]


def test_rate_limited_log_says_how_many_it_held_back() -> None:
    clock = FakeClock()
    log = RateLimitedLog(clock, interval_s=60.0)
    assert log.ready()
    assert not log.ready() and not log.ready()
    clock.now = 61.0
    assert log.ready()
    assert log.take_suppressed() == 2


def test_drop_counts_and_log_references() -> None:
    drops = DropCounts()
    drops.drop(DropReason.OVERSIZE)
    drops.drop(DropReason.OVERSIZE)
    assert drops.counts[DropReason.OVERSIZE] == 2 and drops.total() == 2
    refs = LogReferences()
    ref = refs.participant("room", "p-secret-id")
    assert ref == refs.participant("room", "p-secret-id")
    assert "secret" not in ref and ref.startswith("peer~")


def test_over_budget_raises_an_alert_at_once_with_the_pseudonymous_id() -> None:
    rules = AlertRules()
    link = ConnectionObservation("room_x", "peer_y", None, None, over_budget=True)
    alerts = rules.evaluate(Observation((), (link,), 0.1, 0.0), now=5.0)
    assert [(a.kind, a.participant_ref) for a in alerts] == [
        (AlertKind.MEDIA_BUDGET_EXCEEDED, "peer_y")
    ]
    calm = ConnectionObservation("room_x", "peer_y", None, None)
    assert rules.evaluate(Observation((), (calm,), 0.1, 0.0), now=6.0) == []
