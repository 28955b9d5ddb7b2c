"""Alert rules on a test-controlled clock: raised when conditions hold, cleared when not."""

from __future__ import annotations

from server.monitoring.alerts import (
    AlertKind,
    AlertRules,
    ConnectionObservation,
    Observation,
    RoomObservation,
)
from server.monitoring.rating import Rating, rate
from server.sfu.connection_quality import ConnectionQuality

QUIET = Observation(rooms=(), connections=(), cpu_ratio=0.1, event_loop_lag_ms=2)


def observe(**changes: object) -> Observation:
    fields = {
        "rooms": QUIET.rooms,
        "connections": QUIET.connections,
        "cpu_ratio": QUIET.cpu_ratio,
        "event_loop_lag_ms": QUIET.event_loop_lag_ms,
    }
    fields.update(changes)
    return Observation(**fields)  # type: ignore[arg-type]


def kinds(alerts: list[object]) -> set[AlertKind]:
    return {alert.kind for alert in alerts}  # type: ignore[attr-defined]


def test_a_quiet_server_has_no_alerts() -> None:
    assert AlertRules().evaluate(QUIET, 0) == []


def test_room_alerts_raise_and_clear() -> None:
    rules = AlertRules()
    troubled = observe(rooms=(RoomObservation("room_1", facilitator_gone=True, overtime=True),))
    alerts = rules.evaluate(troubled, 100)
    assert kinds(alerts) == {AlertKind.FACILITATOR_DISCONNECTED, AlertKind.ROOM_OVERTIME}
    assert all(a.room_ref == "room_1" and a.since == 100 for a in alerts)
    calm = observe(rooms=(RoomObservation("room_1", facilitator_gone=False, overtime=False),))
    assert rules.evaluate(calm, 101) == []


def test_a_poor_connection_must_last_ten_seconds() -> None:
    rules = AlertRules()
    lossy = observe(connections=(ConnectionObservation("room_1", "peer_1", 7.5, 80),))
    for t in range(10):
        assert rules.evaluate(lossy, 1000 + t) == []
    [alert] = rules.evaluate(lossy, 1010)
    assert alert.kind is AlertKind.POOR_CONNECTION and alert.participant_ref == "peer_1"
    assert "packet loss 7.5 %" in alert.message and alert.since == 1000
    healthy = observe(connections=(ConnectionObservation("room_1", "peer_1", 0.5, 80),))
    assert rules.evaluate(healthy, 1011) == []
    # A break resets the count.
    assert rules.evaluate(lossy, 1012) == []
    assert rules.evaluate(lossy, 1021) == []
    assert len(rules.evaluate(lossy, 1022)) == 1


def test_round_trip_time_counts_too() -> None:
    rules = AlertRules(sustain_s=0)
    slow = observe(connections=(ConnectionObservation("room_1", "peer_1", None, 450),))
    [alert] = rules.evaluate(slow, 0)
    assert "round-trip time 450 ms" in alert.message


def test_server_alerts() -> None:
    rules = AlertRules()
    busy = observe(cpu_ratio=0.93, event_loop_lag_ms=180)
    assert kinds(rules.evaluate(busy, 0)) == {AlertKind.SERVER_CPU, AlertKind.EVENT_LOOP_LAG}
    assert rules.evaluate(QUIET, 1) == []


def test_ratings() -> None:
    def quality(rtt: float | None, loss: float | None, jitter: float | None) -> ConnectionQuality:
        return ConnectionQuality(rtt, jitter, loss, None, 500, 2000, "host")

    assert rate(quality(40, 0.2, 5)) is Rating.GOOD
    assert rate(quality(None, None, None)) is Rating.GOOD
    assert rate(quality(200, 0.2, 5)) is Rating.FAIR
    assert rate(quality(40, 3, 5)) is Rating.FAIR
    assert rate(quality(40, 0.2, 45)) is Rating.FAIR
    assert rate(quality(500, 0.2, 5)) is Rating.POOR
    assert rate(quality(40, 12, 5)) is Rating.POOR
