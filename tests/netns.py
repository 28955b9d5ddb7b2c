"""The tests' network namespaces: ``benchmarks/netns.py`` (which the benchmarks use too),
and a shaped link to a namespace of a test's own.

Needs root and iproute2's ``ip`` (and ``tc`` for a shaped link); where a namespace
cannot be made, ``NamespaceUnavailable`` is raised and a test skips, which CI=true
turns into a failure (tests/conftest.py).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from benchmarks.netns import (
    NamespaceUnavailable,
    NetworkNamespace,
    ScenarioFailed,
    network_namespace,
)

__all__ = [
    "NamespaceUnavailable",
    "NetworkNamespace",
    "ScenarioFailed",
    "ShapedLink",
    "network_namespace",
    "shaped_link",
]

# Each ``ip`` or ``tc`` command is quick; one that takes longer is broken.
_IP_TIMEOUT_S = 10.0
# A shaped link's subnet: 10.204.N.0/24, N chosen at random per link (this side .1, the
# far side .2), so that links made at once by different tests do not collide (the
# namespaces of benchmarks/netns.py use 10.203.0.0/24).
_LINK_PREFIX = "10.204"


@dataclass(frozen=True, slots=True)
class ShapedLink:
    """A namespace joined to this one by a veth pair: ``near`` (here) and ``far`` (inside)
    addresses. What this side sends towards the namespace leaves through ``device``,
    whose root qdisc may limit it (``limit``): the far side's downlink."""

    name: str
    device: str
    near: str
    far: str

    def command(self, *argv: str) -> list[str]:
        """A command line that runs ``argv`` inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def limit(self, rate_kbit: int, burst_bytes: int = 16_000, latency_ms: int = 100) -> None:
        """Limit the far side's downlink with a token bucket (tbf: netem is not available
        on these machines). Replaces any earlier limit."""
        self.unlimit()
        _ip_tool(
            "tc", "qdisc", "add", "dev", self.device, "root", "tbf",
            "rate", f"{rate_kbit}kbit", "burst", str(burst_bytes), "latency", f"{latency_ms}ms",
        )  # fmt: skip

    def unlimit(self) -> None:
        subprocess.run(
            ["tc", "qdisc", "del", "dev", self.device, "root"],
            capture_output=True,
            timeout=_IP_TIMEOUT_S,
            check=False,
        )

    def sent_bytes(self) -> int:
        """Bytes this side has put on the wire towards the namespace (after the qdisc)."""
        path = f"/sys/class/net/{self.device}/statistics/tx_bytes"
        with open(path) as counter:
            return int(counter.read())

    def qdisc_drops(self) -> int:
        """Packets the limit dropped (its queue was full)."""
        shown = subprocess.run(
            ["tc", "-s", "qdisc", "show", "dev", self.device],
            capture_output=True, text=True, timeout=_IP_TIMEOUT_S, check=True,
        ).stdout  # fmt: skip
        words = shown.split()
        return int(words[words.index("dropped") + 1].rstrip(",")) if "dropped" in words else 0


def _ip_tool(*argv: str) -> None:
    try:
        subprocess.run(
            list(argv), check=True, capture_output=True, text=True, timeout=_IP_TIMEOUT_S
        )
    except subprocess.CalledProcessError as exc:
        raise NamespaceUnavailable(f"{' '.join(argv)}: {exc.stderr.strip()}") from exc


@contextmanager
def shaped_link(prefix: str = "gs") -> Iterator[ShapedLink]:
    """A fresh namespace reached from this one over a veth pair (unlike
    ``network_namespace``, whose two ends are both inside and so talk over loopback,
    which no qdisc shapes). Always deleted after, with the pair."""
    if shutil.which("ip") is None or shutil.which("tc") is None:
        raise NamespaceUnavailable("iproute2's ip and tc are needed")
    if os.geteuid() != 0:
        raise NamespaceUnavailable("making a network namespace needs root")
    tag = secrets.token_hex(3)
    name = f"{prefix}-{os.getpid()}-{tag}"
    near_device, far_device = f"{prefix}n{tag}", f"{prefix}f{tag}"
    _ip_tool("ip", "netns", "add", name)
    try:
        _ip_tool("ip", "link", "add", near_device, "type", "veth", "peer", "name", far_device)
        try:
            _ip_tool("ip", "link", "set", far_device, "netns", name)
            subnet = f"{_LINK_PREFIX}.{secrets.randbelow(256)}"
            near, far = f"{subnet}.1", f"{subnet}.2"
            _ip_tool("ip", "addr", "add", f"{near}/24", "dev", near_device)
            _ip_tool("ip", "link", "set", near_device, "up")
            _ip_tool("ip", "-n", name, "addr", "add", f"{far}/24", "dev", far_device)
            _ip_tool("ip", "-n", name, "link", "set", far_device, "up")
            _ip_tool("ip", "-n", name, "link", "set", "lo", "up")
            yield ShapedLink(name, near_device, near, far)
        finally:
            subprocess.run(
                ["ip", "link", "delete", near_device],
                capture_output=True,
                timeout=_IP_TIMEOUT_S,
                check=False,
            )
    finally:
        subprocess.run(
            ["ip", "netns", "delete", name], capture_output=True, timeout=_IP_TIMEOUT_S, check=False
        )
