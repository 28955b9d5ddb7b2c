"""The workers benchmark runs end to end at its smallest: one small room per worker
count, a short window, a few moderation commands. Its figures are never asserted
(they belong to the benchmark's JSON); only that it completes and reports each one,
with real processes, a real redis-server and a namespace of its own."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from benchmarks.workers import main


def test_the_benchmark_reports_rooms_held_for_each_worker_count() -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (./dev test installs it)")
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.workers", "--workers", "1", "2",
         "--max-rooms", "1", "--room-size", "3", "--duration", "1",
         "--moderation-commands", "10"],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )  # fmt: skip
    if completed.returncode == 2 and "needs a network namespace" in completed.stderr:
        pytest.skip(completed.stderr.strip())
    assert completed.returncode == 0, completed.stderr[-3000:]
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    assert set(figures["rooms_held"]) == {"1", "2"}
    assert "ratio" in figures
    assert figures["target"] == {"lost": 0, "added_latency_p95_ms": 5.0}
    for workers in ("1", "2"):
        run = figures["by_workers"][workers]
        assert run["workers"] == int(workers)
        assert run["rooms_held"] in (0, 1)
        assert run["stopped_because"]
        for key in (
            "cpu_bound_rooms",
            "server_only_bound_rooms",
            "clients_cpu_cores_per_room",
            "server_cpu_cores_per_room",
        ):
            assert key in run, key
        # One room was set up and measured (held or not: no timing is asserted).
        [step] = run["steps"]
        assert step["rooms"] == 1
        assert len(step["server_cpu_cores"]) == int(workers)
        assert sum(step["rooms_per_node"].values()) == 1
        [room] = step["per_room"]
        assert room["received"] > 0
        assert set(room["added_latency_ms"]) == {"p50", "p95", "p99"}
        assert set(room["end_to_end_added_ms"]) == {"p50", "p95", "p99"}
    moderation = figures["moderation_latency"]
    for store in ("in_memory", "redis"):
        assert set(moderation[store]) == {"p50_ms", "p99_ms"}


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["--room-size", "1"], "--room-size: 1 is not between 2 and 12"),
        (["--max-rooms", "0"], "--max-rooms: 0 is not between 1 and 30"),
        (["--duration", "600"], "--duration: 600 is not between 1 and 120"),
        (["--workers", "9"], "--workers: 9 is not between 1 and 8"),
    ],
)
def test_the_benchmark_refuses_a_load_out_of_bounds(
    arguments: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(arguments)
    assert exited.value.code == 2
    assert complaint in capsys.readouterr().err
