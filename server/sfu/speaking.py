"""Who is speaking, from the RFC 6464 audio level each publisher's packets carry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SpeakingThresholds:
    """Hysteresis for speaking detection.

    Levels are RFC 6464 values: -dBov, 0 loudest, 127 silence. Speech sits
    around 20-40; a quiet room around 60-127.
    """

    # A packet at or below this level counts as voice.
    voice_level: int = 50
    # Voice must last this long before someone counts as speaking (ignores clicks).
    start_after_s: float = 0.15
    # Silences shorter than this do not interrupt a run of voice (pauses between words).
    bridge_gap_s: float = 0.25
    # Silence must last this long before someone stops counting as speaking.
    stop_after_s: float = 0.8


class SpeakingDetector:
    """Speaking state of one publisher, changed only with hysteresis."""

    def __init__(self, clock: Callable[[], float], thresholds: SpeakingThresholds) -> None:
        self._clock = clock
        self._thresholds = thresholds
        self._speaking = False
        self._voice_since: float | None = None
        self._last_voice: float | None = None

    @property
    def speaking(self) -> bool:
        return self._speaking

    def observe(self, level: int) -> bool | None:
        """Take one packet's audio level; return the new state if it changed."""
        now = self._clock()
        t = self._thresholds
        if level <= t.voice_level:
            if self._voice_since is None or (
                self._last_voice is not None and now - self._last_voice > t.bridge_gap_s
            ):
                self._voice_since = now
            self._last_voice = now
            if not self._speaking and now - self._voice_since >= t.start_after_s:
                self._speaking = True
                return True
            return None
        if self._last_voice is None or now - self._last_voice >= t.stop_after_s:
            self._voice_since = None
            if self._speaking:
                self._speaking = False
                return False
        return None

    def reset(self) -> bool | None:
        """Forget the history (the publisher was muted); return False if that stops speech."""
        self._voice_since = None
        self._last_voice = None
        if self._speaking:
            self._speaking = False
            return False
        return None
