"""ICE: the server's host candidates (an announced address, a port range) and pairing
with browsers whose candidates give none (mDNS names, or none at all).

Part of the aiortc quarantine: every private name used here is listed, and pinned,
in ``server/sfu/aiortc_internals/__init__.py``.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import random
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aioice import mdns as aioice_mdns
from aioice import turn as aioice_turn
from aioice.candidate import Candidate as AioiceCandidate
from aioice.candidate import candidate_foundation, candidate_priority
from aioice.ice import StunProtocol
from aiortc import RTCPeerConnection

logger = logging.getLogger(__name__)

# aiortc builds one aioice ``Connection`` per transport, in the peer connection's
# private ``__createDtlsTransport``, and gathers when the local description is set.
# ``install_ice_policy`` wraps that method on the instance, so each Connection is
# adjusted before it gathers: host candidates from sockets bound in a configured
# port range and announced at a configured address, the browser's mDNS candidates
# ignored, and connectivity checks waited for when the browser's candidates gave no
# pair. Each aioice name used here is listed in the package's docstring.

# What aioice sets on its own media sockets (``turn.UDP_SOCKET_BUFFER_SIZE``).
_UDP_RECEIVE_BUFFER = aioice_turn.UDP_SOCKET_BUFFER_SIZE


class NoFreeMediaPort(OSError):
    """Every port of the configured media range is taken on an address."""


@dataclass(frozen=True, slots=True)
class IcePolicy:
    """How the server's ICE connections gather and pair candidates.

    :param announced_address: advertised as the host candidates' address in
        place of the machine's own (1:1 NAT: the public address that reaches
        it); the sockets are then bound to the wildcard address of its family,
        one per transport, so whichever interface the NAT delivers to receives.
    :param ports: bind media sockets only within this inclusive UDP range.
    :param wait_for_checks_s: when the browser's candidates give no usable pair
        (mDNS names no server can resolve, or none at all) and it has signalled
        end-of-candidates, keep waiting this long for its connectivity checks,
        which give a peer-reflexive candidate (RFC 8445 section 7.3.1.3).
    """

    announced_address: str | None = None
    ports: tuple[int, int] | None = None
    wait_for_checks_s: float = 10.0


def install_ice_policy(pc: RTCPeerConnection, policy: IcePolicy) -> None:
    """Apply ``policy`` to every ICE connection ``pc`` creates; call before any negotiation."""
    target: Any = pc
    create: Callable[[], Any] = target._RTCPeerConnection__createDtlsTransport

    def create_dtls_transport() -> Any:
        dtls = create()
        _adjust_connection(dtls.transport.iceGatherer._connection, policy)
        return dtls

    target._RTCPeerConnection__createDtlsTransport = create_dtls_transport


def _adjust_connection(connection: Any, policy: IcePolicy) -> None:
    if policy.announced_address is not None or policy.ports is not None:
        original_gather = connection.get_component_candidates

        # aioice's signature, timeout included.
        async def get_component_candidates(
            component: int,
            addresses: list[str],
            timeout: int = 5,  # noqa: ASYNC109
        ) -> list[Any]:
            candidates = await _host_candidates(connection, component, addresses, policy)
            if connection.stun_server or connection.turn_server:
                # Relayed candidates as aioice gathers them; no server-reflexive ones
                # (they need aioice's host sockets; the announced address stands for them).
                candidates += await original_gather(component, [], timeout)
            return candidates

        connection.get_component_candidates = get_component_candidates
    _ignore_mdns_candidates(connection)
    _wait_for_checks(connection, policy.wait_for_checks_s)


async def _host_candidates(
    connection: Any, component: int, addresses: list[str], policy: IcePolicy
) -> list[Any]:
    """Host candidates as aioice's ``get_component_candidates`` makes them, on our sockets."""
    if policy.announced_address is not None:
        wildcard = (
            "::" if ipaddress.ip_address(policy.announced_address).version == 6 else "0.0.0.0"
        )
        binds = [(wildcard, policy.announced_address)]
    else:
        binds = [(address, address) for address in addresses]
    loop = asyncio.get_running_loop()
    candidates = []
    for bind_address, announced in binds:
        sock = _bind_media_socket(bind_address, policy.ports)
        _, protocol = await loop.create_datagram_endpoint(
            lambda: StunProtocol(connection), sock=sock
        )
        port = sock.getsockname()[1]
        protocol.local_candidate = AioiceCandidate(
            foundation=candidate_foundation("host", "udp", announced),
            component=component,
            transport="udp",
            priority=candidate_priority(component, "host"),
            host=announced,
            port=port,
            type="host",
        )
        connection._protocols.append(protocol)
        candidates.append(protocol.local_candidate)
    return candidates


def _bind_media_socket(address: str, ports: tuple[int, int] | None) -> socket.socket:
    """A UDP socket on ``address``, on a free port of ``ports`` (from a random start)."""
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _UDP_RECEIVE_BUFFER)
        if family == socket.AF_INET6 and address == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setblocking(False)
        if ports is None:
            sock.bind((address, 0))
            return sock
        low, high = ports
        count = high - low + 1
        start = random.randrange(count)  # spreads connections; not a security measure
        for offset in range(count):
            try:
                sock.bind((address, low + (start + offset) % count))
                return sock
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    raise
        raise NoFreeMediaPort(
            errno.EADDRINUSE, f"no free UDP port in {low}-{high} on {address} for media"
        )
    except BaseException:
        sock.close()
        raise


def _ignore_mdns_candidates(connection: Any) -> None:
    """Drop remote candidates named by mDNS (``….local``) before aioice resolves them.

    mDNS answers only on the browser's own link, so a server elsewhere never
    resolves the name; trying binds a multicast socket and waits. The
    browser's checks reach the server anyway and give a peer-reflexive
    candidate for the same address (``_wait_for_checks``).
    """
    add: Callable[[Any], Awaitable[None]] = connection.add_remote_candidate

    async def add_remote_candidate(candidate: Any) -> None:
        if candidate is not None and aioice_mdns.is_mdns_hostname(candidate.host):
            logger.debug("ignoring an mDNS ICE candidate; waiting for the peer's checks")
            return
        await add(candidate)

    connection.add_remote_candidate = add_remote_candidate


def _wait_for_checks(connection: Any, wait_s: float) -> None:
    """After end-of-candidates, keep a Connection open to the peer's checks for ``wait_s``.

    aioice decides at end-of-candidates: a component with no remote candidate
    is pruned (``_prune_components``), and with no pair ``connect()`` fails at
    once ("Components {1} have no candidate pairs"). Instead, until a pair is
    nominated or ``wait_s`` has passed, more candidates count as expected
    (``_remote_candidates_expected``), which keeps ``connect()`` polling and
    ``_check_list_maybe_fail`` from failing; an incoming check meanwhile makes a
    peer-reflexive pair (``check_incoming``) and a triggered check on it. At the
    deadline aioice's own failure check runs again.
    """
    loop = asyncio.get_running_loop()
    deadline: list[float] = []  # set at end-of-candidates
    expected: Callable[[], bool] = connection._remote_candidates_expected
    end: Callable[[], None] = connection._end_remote_candidates

    def remote_candidates_expected() -> bool:
        if expected():
            return True
        return bool(deadline) and not connection._nominated and loop.time() < deadline[0]

    def end_remote_candidates() -> None:
        if not deadline:
            deadline.append(loop.time() + wait_s)
            loop.call_later(wait_s, give_up)
        end()

    def prune_components() -> None:
        # With rtcp-mux there is one component: pruning it leaves nothing to wait for.
        return None

    def give_up() -> None:
        if not connection._closing and not connection._check_list_done:
            connection._check_list_maybe_fail()

    connection._remote_candidates_expected = remote_candidates_expected
    connection._end_remote_candidates = end_remote_candidates
    connection._prune_components = prune_components
