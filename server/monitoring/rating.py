"""Connection quality, as operators see it: a rating of the media plane's figures.

The media plane measures (``server.sfu.connection_quality``); this module
rates. Thresholds (documented in docs/monitoring.md) follow common VoIP
guidance (ITU-T G.114 for delay; loss above a few percent is audible with
Opus and visible with VP8).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol, runtime_checkable

from server.sfu.connection_quality import ConnectionQuality
from server.sfu.forwarding_stats import ForwardingTotals


class Rating(StrEnum):
    GOOD = "good"
    FAIR = "fair"
    POOR = "poor"


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
