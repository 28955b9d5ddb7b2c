"""The server process's load: CPU, memory, event-loop lag."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

_STATM = Path("/proc/self/statm")


@dataclass(frozen=True, slots=True)
class LoadSample:
    cpu_ratio: float  # process CPU seconds per wall second (1.0 = one core busy)
    memory_bytes: int  # resident set size
    event_loop_lag_ms: float  # worst lag seen since the previous sample


class LoadSampler:
    """Measures CPU between samples and event-loop lag with a probe that asks to wake
    every ``probe_interval_s`` and records how late it woke."""

    def __init__(self, probe_interval_s: float = 0.1) -> None:
        self._probe_interval_s = probe_interval_s
        self._last_wall = time.monotonic()
        self._last_cpu = time.process_time()
        self._worst_lag_s = 0.0
        self._probe: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._probe = asyncio.create_task(self._measure_lag())

    async def stop(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe

    def sample(self) -> LoadSample:
        wall, cpu = time.monotonic(), time.process_time()
        elapsed = max(wall - self._last_wall, 1e-6)
        cpu_ratio = (cpu - self._last_cpu) / elapsed
        self._last_wall, self._last_cpu = wall, cpu
        lag_ms, self._worst_lag_s = self._worst_lag_s * 1000, 0.0
        return LoadSample(cpu_ratio, _resident_bytes(), lag_ms)

    async def _measure_lag(self) -> None:
        while True:
            asked = time.monotonic()
            await asyncio.sleep(self._probe_interval_s)
            late = time.monotonic() - asked - self._probe_interval_s
            self._worst_lag_s = max(self._worst_lag_s, late)


def _resident_bytes() -> int:
    try:
        pages = int(_STATM.read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        # Not Linux: the peak is the best the standard library offers (kilobytes on Linux/BSD).
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
