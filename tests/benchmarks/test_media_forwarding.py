"""The forwarding benchmark itself: it must run for any room size and report every figure.

Figures are not asserted here (they belong to benchmarks/, printed as JSON);
only that the harness completes and reports what the issue asks for.
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import threading

import pytest

from benchmarks.media_forwarding import _PipeWriter, main
from server.cli import main as groupsession


def test_pipe_writer_never_blocks_the_caller_and_keeps_order() -> None:
    # Offers for a room of a dozen are more than a pipe holds (64 KiB): a
    # blocking send with nobody reading deadlocked the two processes.
    reader, writer_end = multiprocessing.get_context("spawn").Pipe(duplex=False)
    writer = _PipeWriter(writer_end)
    offer = "v=0\r\n" + "a=x" * 60_000

    def send_all() -> None:
        for number in range(8):
            writer.send(("offer", number, offer))

    # Nobody reads yet: the sends must return all the same (queued, not waited on).
    sender = threading.Thread(target=send_all, daemon=True)
    sender.start()
    sender.join(timeout=30)
    assert not sender.is_alive(), "send blocked on a full pipe"
    received = [reader.recv() for _ in range(8)]
    assert [message[1] for message in received] == list(range(8))
    assert all(message[2] == offer for message in received)
    writer.close()


def test_groupsession_bench_prints_every_figure_as_its_last_line() -> None:
    # Through the thin `groupsession bench` command, which runs the benchmarks' one entry point.
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "server.cli",
            "bench",
            "--participants",
            "3",
            "--duration",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    for key in (
        "participants",
        "consumers",
        "duration_s",
        "server_cpu_cores",
        "consumers_per_core",
        "packets_in_per_s",
        "packets_out_per_s",
        "loss_pct",
        "added_latency_ms",
        "late_joiner_first_video_ms",
        "baseline",
        "cpu_per_consumer_ratio_vs_baseline",
        "load_cpu_cores",
    ):
        assert key in figures, key
    assert (figures["participants"], figures["consumers"]) == (3, 12)
    assert set(figures["added_latency_ms"]) == {"p50", "p95", "p99"}
    for key in ("participants", "consumers", "server_cpu_cores", "consumers_per_core"):
        assert key in figures["baseline"], key
    assert figures["packets_out_per_s"] > figures["packets_in_per_s"] > 0


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["--participants", "1"], "--participants: 1 is not between 2 and 30"),
        (["--participants", "many"], "--participants: not a number: 'many'"),
        (["--duration", "0"], "--duration: 0 is not between 1 and 600"),
        (["--duration", "3600"], "--duration: 3600 is not between 1 and 600"),
    ],
)
def test_bench_refuses_a_load_out_of_bounds(
    arguments: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(arguments)
    assert exited.value.code == 2
    assert complaint in capsys.readouterr().err


def test_groupsession_bench_passes_a_refusal_through(capfd: pytest.CaptureFixture[str]) -> None:
    assert groupsession(["bench", "--participants", "31"]) == 2
    assert "--participants: 31 is not between 2 and 30" in capfd.readouterr().err
