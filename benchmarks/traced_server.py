"""The server as ``python -m server`` runs it, plus what a soak needs to look inside.

``python -m benchmarks.traced_server serve --port N`` runs ``groupsession serve``;
on SIGUSR1 the process collects its garbage and, when tracemalloc traces (the
benchmark sets ``PYTHONTRACEMALLOC``), writes a snapshot. Each request writes
``<n>.tracemalloc`` (if tracing) and then ``<n>.done`` in the directory named by
``GROUPSESSION_BENCH_SNAPSHOTS``, ``n`` counting from 1, so the benchmark can wait
for the file. For benchmarks only: the server itself has no such hook.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType

from server.cli import main


class _Snapshots:
    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._taken = 0

    def take(self, signum: int, frame: FrameType | None) -> None:
        # A Python-level handler: it runs in the main thread between two steps of
        # the event loop, so the heap is consistent while it is read.
        self._taken += 1
        collected = gc.collect()
        if tracemalloc.is_tracing():
            tracemalloc.take_snapshot().dump(str(self._directory / f"{self._taken}.tracemalloc"))
        done = {"collected": collected, "tracing": tracemalloc.is_tracing()}
        (self._directory / f"{self._taken}.done").write_text(json.dumps(done))


def run(argv: list[str]) -> int:
    directory = os.environ.get("GROUPSESSION_BENCH_SNAPSHOTS")
    if directory:
        signal.signal(signal.SIGUSR1, _Snapshots(Path(directory)).take)
    return main(argv)


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))
