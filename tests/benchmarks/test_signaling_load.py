"""The whole-server load benchmark runs end to end, tiny (3 rooms of 3, one with media,
3 s): it reports every figure, with no error and no lost state. Its timings are its
own business, never asserted here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from benchmarks.signaling_load import main


def test_a_tiny_load_reports_every_figure_without_errors() -> None:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("media runs in a network namespace: needs root and iproute2")
    arguments = ["--rooms", "3", "--clients", "3", "--media-rooms", "1", "--duration", "3"]
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.signaling_load", *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    assert (figures["rooms"], figures["clients"], figures["media_clients"]) == (3, 9, 3)
    assert figures["errors"] == 0, figures["error_kinds"]
    assert figures["lost_events"] == 0 and figures["lost_state"] == 0
    assert figures["commands"] > 0 and figures["media_packets_received"] > 0
    for latency in (figures["command_ack_ms"], figures["fanout_ms"]["mute"]):
        assert set(latency) == {"count", "p50", "p99", "max"}
    assert figures["goal"]["p99_ms"] == 50
    assert isinstance(figures["goal"]["command_ack_met"], bool)
    assert isinstance(figures["goal"]["fanout_met"], bool)


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["--rooms", "0"], "--rooms: 0 is not between 1 and 40"),
        (["--clients", "17"], "--clients: 17 is not between 2 and 16"),
        (["--duration", "601"], "--duration: 601 is not between 1 and 600"),
        (["--interval", "0.1"], "--interval: 0.1 is not between 0.2 and 30"),
        (["--rooms", "2", "--media-rooms", "3"], "--media-rooms: 3 is more than --rooms (2)"),
    ],
)
def test_the_load_is_bounded(
    arguments: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(arguments)
    assert exited.value.code == 2
    assert complaint in capsys.readouterr().err
