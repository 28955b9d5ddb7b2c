"""Counters the media plane keeps about its own forwarding (for monitoring and benchmarks)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from server.sfu.ingress import DropCounts


@dataclass(slots=True)
class ForwardingStats:
    packets_in: int = 0
    packets_out: int = 0
    bytes_out: int = 0
    packets_dropped_by_mute: int = 0
    # Copies SRTP refused to protect (a subscriber's session failed); the
    # other subscribers still get theirs.
    copies_failed: int = 0
    keyframe_requests_sent: int = 0
    # Datagrams and packets the receive path refused, by reason.
    drops: DropCounts = field(default_factory=DropCounts)
    # Received RTCP packets dropped because their lengths lie or handling them
    # failed (each would have ended the connection's receive loop).
    rtcp_dropped: int = 0
    # RTCP the server could not build or send: receiver-report rounds skipped,
    # NACKs and PLIs dropped (a peer's figures must not end the sending task).
    rtcp_send_failed: int = 0
    # Peer connections whose close outlasted its bound and was finished by force.
    closes_forced: int = 0
    # Copies not sent because, rewritten with the slot's header, they would
    # exceed rtp_bytes.MAX_COPY (a datagram over the MTU).
    oversize_dropped: int = 0
    # Legs that moved from one simulcast layer to another (at a keyframe).
    layer_switches: int = 0
    # Called with each forwarded packet's time in the server, from its arrival
    # (aiortc's arrival timestamp, whole milliseconds, so an upper bound) to
    # the departure of its last copy. None keeps the hot path free of timing.
    latency_observer: Callable[[float], None] | None = None


@dataclass(frozen=True, slots=True)
class ForwardingTotals:
    """Process-wide counters since start (monotonic), and the current consumer count."""

    packets_in: int
    packets_out: int
    bytes_out: int
    packets_dropped_by_mute: int
    consumers: int  # forwarded tracks: one per (publisher track, subscriber)
    copies_failed: int = 0  # copies SRTP refused to protect for a subscriber
    rtcp_dropped: int = 0  # received RTCP packets dropped: lying lengths, or unhandleable
    rtcp_send_failed: int = 0  # RTCP the server could not build or send (RR, NACK, PLI)
    closes_forced: int = 0  # peer connections whose close had to be forced
    oversize_dropped: int = 0  # copies dropped: over the MTU once rewritten
    # Datagrams the media ports dropped, by reason (server.sfu.ingress.DropReason).
    datagrams_dropped: dict[str, int] = field(default_factory=dict)
    # Simulcast: camera legs forwarding each layer now ("single": publishers of one
    # layer), videos paused now by reason, and layer switches since start.
    video_layer_forwards: dict[str, int] = field(default_factory=dict)
    videos_paused: dict[str, int] = field(default_factory=dict)
    layer_switches: int = 0
