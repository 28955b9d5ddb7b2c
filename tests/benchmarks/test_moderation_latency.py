"""The moderation-latency benchmark runs end to end (tiny: its figures are its own
business, never asserted here) against a real redis-server it starts itself."""

from __future__ import annotations

import shutil

import pytest

from benchmarks.moderation_latency import run


async def test_the_benchmark_reports_both_stores() -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (./dev test installs it)")
    result = await run(members=2, commands=20)
    for store in ("in_memory", "redis"):
        assert result[store]["p50_ms"] > 0 and result[store]["p99_ms"] >= result[store]["p50_ms"]
    assert {"added_p50_ms", "added_p99_ms"} <= set(result)
