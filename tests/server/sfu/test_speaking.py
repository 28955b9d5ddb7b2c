"""Speaking detection from RFC 6464 audio levels."""

from __future__ import annotations

from server.sfu.speaking import SpeakingDetector, SpeakingThresholds
from tests.server.sfu.doubles import ManualClock


def feed(detector: SpeakingDetector, clock: ManualClock, level: int, seconds: float) -> list[bool]:
    changes = []
    for _ in range(int(seconds / 0.02)):
        clock.now += 0.02
        change = detector.observe(level)
        if change is not None:
            changes.append(change)
    return changes


def test_speaking_needs_sustained_voice_and_survives_short_pauses() -> None:
    clock = ManualClock()
    detector = SpeakingDetector(clock, SpeakingThresholds())
    assert feed(detector, clock, 30, 0.1) == []  # a click is not speech
    assert feed(detector, clock, 127, 0.5) == []
    assert feed(detector, clock, 30, 0.3) == [True]
    assert feed(detector, clock, 127, 0.4) == []  # a pause between words
    assert feed(detector, clock, 30, 0.2) == []
    assert feed(detector, clock, 127, 1.0) == [False]
    assert not detector.speaking


def test_speaking_reset_reports_only_a_real_change() -> None:
    clock = ManualClock()
    detector = SpeakingDetector(clock, SpeakingThresholds())
    assert detector.reset() is None
    feed(detector, clock, 20, 0.5)
    assert detector.reset() is False


