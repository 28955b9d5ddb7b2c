"""A bitrate over a sliding window, as aiortc's REMB estimator counts it."""

from __future__ import annotations

import collections


class WindowRate:
    """aiortc's ``RateCounter`` (a rate over the last ``window_ms``), without its 1 ms buckets.

    RateCounter erases bucket by bucket every millisecond since the previous
    packet, twice per received video packet (in REMB estimation); this keeps
    only the packets inside the window, in arrival order, and answers the same.
    """

    __slots__ = ("_entries", "_origin_ms", "_scale", "_total", "_window_ms")

    def __init__(self, window_ms: int, scale: int = 8000) -> None:
        self._window_ms = window_ms
        self._scale = scale
        self.reset()

    def reset(self) -> None:
        self._entries: collections.deque[tuple[int, int]] = collections.deque()
        self._origin_ms: int | None = None
        self._total = 0

    def add(self, value: int, now_ms: int) -> None:
        if self._origin_ms is None:
            self._origin_ms = now_ms
        else:
            self._erase_old(now_ms)
        self._entries.append((now_ms, value))
        self._total += value

    def rate(self, now_ms: int) -> int | None:
        if self._origin_ms is None:
            return None
        self._erase_old(now_ms)
        active_window_ms = now_ms - self._origin_ms + 1
        if self._entries and active_window_ms > 1:
            return round(self._scale * self._total / active_window_ms)
        return None

    def _erase_old(self, now_ms: int) -> None:
        assert self._origin_ms is not None
        new_origin_ms = now_ms - self._window_ms + 1
        if self._origin_ms >= new_origin_ms:
            return
        self._origin_ms = new_origin_ms
        entries = self._entries
        while entries and entries[0][0] < new_origin_ms:
            self._total -= entries.popleft()[1]
