"""A network namespace of a test's or a benchmark's own, for load, stress and fuzz runs of media.

aioice gathers candidates from interface addresses and skips loopback, so
media needs real interfaces; a namespace with a veth pair (both ends inside
it) gives two of them without touching the host's network. Python 3.11 has
no ``os.setns``: a scenario runs inside as a subprocess (``run_module``) and
reports on stdout.

Needs root and iproute2's ``ip``. ``network_namespace`` raises
``NamespaceUnavailable`` where it cannot make one; a test then skips, which
CI=true turns into a failure (tests/conftest.py), and a benchmark says why and stops.
Tests import it through ``tests.netns``.
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
