"""The soak with media runs end to end, tiny (a few cycles of each kind): it reports
every figure and no error. Memory and descriptor figures are its own business,
never asserted here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from benchmarks.media_soak import main


def test_a_tiny_soak_with_media_reports_every_figure_without_errors() -> None:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("media runs in a network namespace: needs root and iproute2")
    arguments = ["--joins", "3", "--drops", "2", "--residents", "2", "--settle", "0"]
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.media_soak", *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    assert (figures["join_leave_cycles"], figures["drop_return_cycles"]) == (3, 2)
    assert figures["errors"] == 0, figures["error_kinds"]
    for moment in ("server_before", "server_after", "server_after_settle"):
        server = figures[moment]
        assert {"rss_kib", "open_fds", "sockets", "udp_sockets", "plane"} <= set(server)
        # Back to the residents alone: two participants, each sent the other's two tracks.
        assert server["plane"] == {"consumers": 4, "participants": 2, "rooms": 1}
    assert {"rss_growth_kib", "fd_growth", "udp_socket_growth"} <= set(figures)


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["--joins", "0"], "--joins: 0 is not between 1 and 5000"),
        (["--drops", "1001"], "--drops: 1001 is not between 0 and 1000"),
        (["--residents", "9"], "--residents: 9 is not between 1 and 8"),
        (["--settle", "-1"], "--settle: -1 is not between 0 and 120"),
    ],
)
def test_the_soak_is_bounded(
    arguments: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(arguments)
    assert exited.value.code == 2
    assert complaint in capsys.readouterr().err
