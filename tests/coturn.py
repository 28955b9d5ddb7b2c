"""A real coturn (Debian's ``coturn`` package) for one test, with coturn's REST auth.

coturn listens on loopback only. Its relay addresses are on one of this machine's
non-loopback interface addresses: the server's media plane (aioice) gathers no
loopback candidates, so a relay on loopback could never reach it. Nothing binds
outside this machine and the process is killed when the test ends.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import ifaddr
import pytest
from aioice import stun
from aioice.turn import create_turn_endpoint

TURNSERVER = "/usr/bin/turnserver"
REALM = "groupsession.test"
_START_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Coturn:
    port: int
    relay_ip: str
    secret: str
    log: Path

    @property
    def uri(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"


def relay_address() -> str:
    """An IPv4 address of this machine that is not loopback (what aioice gathers)."""
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ipaddress.ip_address(ip.ip).is_loopback:
                return ip.ip
    pytest.skip("this machine has no non-loopback IPv4 address for TURN relays")


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers_stun(port: int) -> bool:
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(0.2)
        client.sendto(bytes(request), ("127.0.0.1", port))
        try:
            data = client.recv(2048)
        except OSError:
            return False
    return stun.parse_message(data).transaction_id == request.transaction_id


@contextmanager
def running_coturn(tmp_path: Path) -> Iterator[Coturn]:
    if not Path(TURNSERVER).exists() or shutil.which(TURNSERVER) is None:
        pytest.skip("coturn is not installed (apt-get install coturn)")
    relay_ip = relay_address()
    port = _free_udp_port()
    secret = secrets.token_urlsafe(32)
    log = tmp_path / "coturn.log"
    low = 50000 + secrets.randbelow(150) * 100  # a relay port window of its own
    command = [
        TURNSERVER,
        "-n",  # no configuration file: everything is here
        "--listening-ip=127.0.0.1",
        f"--listening-port={port}",
        f"--relay-ip={relay_ip}",
        f"--min-port={low}",
        f"--max-port={low + 99}",
        "--use-auth-secret",
        f"--static-auth-secret={secret}",
        f"--realm={REALM}",
        "--no-tls",
        "--no-dtls",
        "--no-cli",
        "--no-tcp-relay",
        f"--pidfile={tmp_path / 'coturn.pid'}",
        f"--userdb={tmp_path / 'coturn.sqlite'}",
        f"--log-file={log}",
        "--simple-log",
        "--no-stdout-log",
        "--verbose",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not _answers_stun(port):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text()[-3000:] if log.exists() else "(no log)"
                pytest.fail(f"coturn did not start on 127.0.0.1:{port}:\n{tail}", pytrace=False)
        yield Coturn(port, relay_ip, secret, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


async def allocate(coturn: Coturn, username: str, password: str) -> tuple[str, int]:
    """Allocate a relay with these credentials (aioice's TURN client); its address.

    Raises aioice's ``TransactionFailed`` when coturn refuses them."""
    transport, _ = await asyncio.wait_for(
        create_turn_endpoint(
            asyncio.DatagramProtocol, ("127.0.0.1", coturn.port), username, password
        ),
        timeout=_START_TIMEOUT_S,
    )
    try:
        relayed: tuple[str, int] = transport.get_extra_info("sockname")
        return relayed
    finally:
        transport.close()
