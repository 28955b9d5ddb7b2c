"""The session clock: when a session is meant to start and end, and the warnings
facilitators get before the end."""

from __future__ import annotations

import math
from dataclasses import dataclass

# Minutes before the scheduled end at which facilitators are warned.
END_WARNINGS_MIN = (10, 2)


@dataclass(frozen=True, slots=True)
class Schedule:
    starts_at: float | None = None
    ends_at: float | None = None
    hard_end: bool = False  # end the session for everyone at ends_at
    late_cutoff_at: float | None = None  # after this, newcomers always wait for admission

    def __post_init__(self) -> None:
        times = (self.starts_at, self.ends_at, self.late_cutoff_at)
        if any(t is not None and not math.isfinite(t) for t in times):
            # NaN passes every comparison below, and is not JSON on the wire.
            raise ValueError("a schedule's times must be finite numbers")
        ends, starts = self.ends_at, self.starts_at
        if ends is not None and starts is not None and ends <= starts:
            raise ValueError("a session must end after it starts")
        if self.hard_end and self.ends_at is None:
            raise ValueError("a hard end needs an end time")

    def overtime(self, now: float) -> bool:
        return self.ends_at is not None and now >= self.ends_at

    def past_late_cutoff(self, now: float) -> bool:
        return self.late_cutoff_at is not None and now >= self.late_cutoff_at
