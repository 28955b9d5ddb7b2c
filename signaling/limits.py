"""Abuse limits of the signaling server: what one connection, one address and one node
may ask for (docs/protocol.md, "Limits"). Each is configurable; 0 turns one off."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Limits:
    # Messages one connection may send: a steady rate, and a burst above it.
    messages_per_s: float = 20.0
    message_burst: int = 60
    # Join attempts from one address in any 60 s (good or bad tokens alike).
    joins_per_minute: int = 30
    # A connection that has not joined a room this long after connecting is closed.
    join_timeout_s: float = 10.0
    # Live rooms one server process holds; a join that would open one more is refused.
    max_rooms: int = 200


class TokenBucket:
    """``rate`` tokens a second up to ``burst``; each message takes one."""

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._at = clock()

    def take(self) -> bool:
        if self._rate <= 0:
            return True
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class AttemptsPerMinute:
    """At most ``limit`` attempts per key in any 60 seconds (a sliding window)."""

    WINDOW_S = 60.0

    def __init__(self, limit: int, clock: Clock = time.monotonic) -> None:
        self._limit = limit
        self._clock = clock
        self._attempts: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        if self._limit <= 0:
            return True
        now = self._clock()
        recent = self._attempts.setdefault(key, deque())
        while recent and now - recent[0] >= self.WINDOW_S:
            recent.popleft()
        if len(recent) >= self._limit:
            return False
        recent.append(now)
        self._forget_idle(now)
        return True

    def _forget_idle(self, now: float) -> None:
        # Bounded memory: addresses with nothing in the window are dropped now and then.
        if len(self._attempts) < 1024:
            return
        for key in [k for k, v in self._attempts.items() if not v or now - v[-1] >= self.WINDOW_S]:
            del self._attempts[key]
