"""A network namespace of a benchmark's own, for the benchmarks that carry real media.

aioice gathers candidates from interface addresses and skips loopback, so media
needs real interfaces; a namespace with a veth pair (both ends inside it) gives
two of them without touching the host's network. Python 3.11 has no
``os.setns``: the benchmark runs itself again inside (``run_module``), server,
load and all, and reads the JSON line it prints. Signaling still goes over the
namespace's own loopback. (tests/netns.py does the same for the tests; the
benchmarks never import the tests.)

Needs root and iproute2's ``ip``.
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

_IP_TIMEOUT_S = 10.0
_ADDRESSES = ("10.204.0.1", "10.204.0.2")


class NamespaceUnavailable(Exception):
    """A network namespace cannot be made here (not root, no iproute2, no kernel support)."""


class RunFailed(Exception):
    """The run inside the namespace exited badly or printed no JSON."""


@dataclass(frozen=True, slots=True)
class NetworkNamespace:
    name: str

    def run_module(self, module: str, *args: str, timeout_s: float) -> dict[str, Any]:
        """``python -m module args`` inside the namespace; its last JSON line. Its
        stderr is passed through, so progress and failures show as they happen."""
        command = ["ip", "netns", "exec", self.name, sys.executable, "-m", module, *args]
        try:
            done = subprocess.run(
                command, stdout=subprocess.PIPE, text=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise RunFailed(f"{module} ran over {timeout_s:g} s") from exc
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            raise RunFailed(f"{module} exited {done.returncode} without a result")
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
def network_namespace(prefix: str = "gs-bench") -> Iterator[NetworkNamespace]:
    """A fresh namespace with loopback and a veth pair up; always deleted after."""
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
        yield NetworkNamespace(name)
    finally:
        # Deleting the namespace deletes the veth pair inside it.
        subprocess.run(
            ["ip", "netns", "delete", name], capture_output=True, timeout=_IP_TIMEOUT_S, check=False
        )
