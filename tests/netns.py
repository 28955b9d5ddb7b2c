"""A network namespace of a test's own, for load, stress and fuzz tests of media.

aioice gathers candidates from interface addresses and skips loopback, so
media needs real interfaces; a namespace with a veth pair (both ends inside
it) gives two of them without touching the host's network. Python 3.11 has
no ``os.setns``: a scenario runs inside as a subprocess (``run_module``) and
reports on stdout.

Needs root and iproute2's ``ip``. ``network_namespace`` raises
``NamespaceUnavailable`` where it cannot make one; a test then skips, which
CI=true turns into a failure (tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

# Each ``ip`` command is quick; a namespace that takes longer is broken.
_IP_TIMEOUT_S = 10.0
# Addresses used inside the namespace only.
_ADDRESSES = ("10.203.0.1", "10.203.0.2")
# A shaped link's subnet: 10.204.N.0/24, N chosen at random per link (this side .1, the
# far side .2), so that links made at once by different tests do not collide.
_LINK_PREFIX = "10.204"


class NamespaceUnavailable(Exception):
    """A network namespace cannot be made here (not root, no iproute2, no kernel support)."""


class ScenarioFailed(Exception):
    """A scenario run in a namespace exited badly or printed no result."""


@dataclass(frozen=True, slots=True)
class NetworkNamespace:
    name: str
    addresses: tuple[str, str]

    def run_module(self, module: str, *args: str, timeout_s: float) -> dict[str, Any]:
        """Run ``python -m module args`` inside the namespace; its last stdout line, as JSON."""
        command = ["ip", "netns", "exec", self.name, sys.executable, "-m", module, *args]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise ScenarioFailed(f"{module} ran over {timeout_s} s") from exc
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            raise ScenarioFailed(
                f"{module} exited {done.returncode}; stderr tail:\n{done.stderr[-4000:]}"
            )
        result: dict[str, Any] = json.loads(lines[-1])
        return result


def _ip(*args: str) -> None:
    try:
        subprocess.run(
            ["ip", *args], check=True, capture_output=True, text=True, timeout=_IP_TIMEOUT_S
        )
    except subprocess.CalledProcessError as exc:
        raise NamespaceUnavailable(f"ip {' '.join(args)}: {exc.stderr.strip()}") from exc


@contextmanager
def network_namespace(prefix: str = "gs") -> Iterator[NetworkNamespace]:
    """A fresh namespace with a veth pair, both ends up and addressed; always deleted after."""
    if shutil.which("ip") is None:
        raise NamespaceUnavailable("iproute2's ip is not installed")
    if os.geteuid() != 0:
        raise NamespaceUnavailable("making a network namespace needs root")
    name = f"{prefix}-{os.getpid()}-{secrets.token_hex(3)}"
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1")
        for device, address in zip(("veth0", "veth1"), _ADDRESSES, strict=True):
            _ip("-n", name, "addr", "add", f"{address}/24", "dev", device)
            _ip("-n", name, "link", "set", device, "up")
        yield NetworkNamespace(name, _ADDRESSES)
    finally:
        # Deleting the namespace deletes the veth pair inside it.
        subprocess.run(
            ["ip", "netns", "delete", name], capture_output=True, timeout=_IP_TIMEOUT_S, check=False
        )


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
    _ip("netns", "add", name)
    try:
        _ip("link", "add", near_device, "type", "veth", "peer", "name", far_device)
        try:
            _ip("link", "set", far_device, "netns", name)
            subnet = f"{_LINK_PREFIX}.{secrets.randbelow(256)}"
            near, far = f"{subnet}.1", f"{subnet}.2"
            _ip("addr", "add", f"{near}/24", "dev", near_device)
            _ip("link", "set", near_device, "up")
            _ip("-n", name, "addr", "add", f"{far}/24", "dev", far_device)
            _ip("-n", name, "link", "set", far_device, "up")
            _ip("-n", name, "link", "set", "lo", "up")
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
