"""Counters the media plane keeps about its own forwarding (for monitoring and benchmarks)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from server.media.ingress import DropCounts


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
    # Called with each forwarded packet's time in the server, from its arrival
    # (aiortc's arrival timestamp, whole milliseconds, so an upper bound) to
    # the departure of its last copy. None keeps the hot path free of timing.
    latency_observer: Callable[[float], None] | None = None
