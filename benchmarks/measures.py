"""What more than one benchmark measures with: percentiles, the kernel's UDP drops,
bounded command-line numbers, a process's children."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def udp_receive_buffer_errors() -> int | None:
    """Datagrams the kernel dropped because a socket's receive buffer was full.

    System-wide (Linux /proc/net/snmp): other processes' UDP counts too.
    """
    try:
        with open("/proc/net/snmp") as snmp:
            udp = [line.split() for line in snmp if line.startswith("Udp:")]
    except OSError:
        return None
    if len(udp) < 2 or "RcvbufErrors" not in udp[0]:
        return None
    return int(udp[1][udp[0].index("RcvbufErrors")])


def bounded(kind: Callable[[str], float], lowest: float, highest: float) -> Callable[[str], float]:
    """An argparse type: a number from ``lowest`` to ``highest``."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not lowest <= value <= highest:
            raise argparse.ArgumentTypeError(f"{text} is not between {lowest:g} and {highest:g}")
        return value

    return parse


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so read after the last ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found
