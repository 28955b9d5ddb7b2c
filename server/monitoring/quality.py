"""Connection quality, as operators see it: figures per participant and a rating.

The media plane measures; this module rates. Thresholds (documented in
docs/monitoring.md) follow common VoIP guidance (ITU-T G.114 for delay;
loss above a few percent is audible with Opus and visible with VP8).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable


class Rating(StrEnum):
    GOOD = "good"
    FAIR = "fair"
    POOR = "poor"


@dataclass(frozen=True, slots=True)
class ConnectionQuality:
    """One participant's connections to the server, over the last few seconds.

    ``up`` is publisher -> server (their camera and microphone); ``down`` is
    server -> subscriber (everyone else's media reaching them). None: not known
    yet (no report received).
    """

    rtt_ms: float | None
    jitter_ms: float | None
    loss_up_pct: float | None
    loss_down_pct: float | None
    bitrate_up_kbps: float
    bitrate_down_kbps: float
    candidate_type: str | None  # "host", "srflx", "prflx" or "relay"
    # Their publish connection went over its packet or byte budget lately.
    media_budget_exceeded: bool = False


@dataclass(frozen=True, slots=True)
class ForwardingTotals:
    """Process-wide counters since start (monotonic), and the current consumer count."""

    packets_in: int
    packets_out: int
    bytes_out: int
    packets_dropped_by_mute: int
    consumers: int  # forwarded tracks: one per (publisher track, subscriber)
    copies_failed: int = 0  # copies SRTP refused to protect for a subscriber
    # Datagrams the media ports dropped, by reason (server.media.ingress.DropReason).
    datagrams_dropped: dict[str, int] = field(default_factory=dict)


@runtime_checkable
class QualitySource(Protocol):
    """What monitoring reads from the media plane."""

    def connection_quality(self, room_id: str, participant_id: str) -> ConnectionQuality | None:
        """None if the participant has no peer connection."""
        ...

    def forwarding_totals(self) -> ForwardingTotals: ...


# (good up to, fair up to); above fair: poor.
RTT_MS_LIMITS = (150.0, 400.0)
LOSS_PCT_LIMITS = (1.0, 5.0)
JITTER_MS_LIMITS = (30.0, 60.0)


def rate(quality: ConnectionQuality) -> Rating:
    """The worst of the figures' ratings; unknown figures do not count."""
    worst = Rating.GOOD
    loss = max(
        (v for v in (quality.loss_up_pct, quality.loss_down_pct) if v is not None), default=None
    )
    for value, (good, fair) in (
        (quality.rtt_ms, RTT_MS_LIMITS),
        (loss, LOSS_PCT_LIMITS),
        (quality.jitter_ms, JITTER_MS_LIMITS),
    ):
        if value is None or value <= good:
            continue
        rating = Rating.FAIR if value <= fair else Rating.POOR
        if rating is Rating.POOR:
            return Rating.POOR
        worst = rating
    return worst
