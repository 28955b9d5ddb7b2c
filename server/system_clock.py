"""The real clock, injected into rooms/ and signaling/."""

from __future__ import annotations

import time


class SystemClock:
    def now(self) -> float:
        return time.time()
