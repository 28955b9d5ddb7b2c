"""What the media plane reads from RTP receive statistics and RTCP receiver reports."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReceiveCounts:
    expected: int
    received: int
    jitter_s: float


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    """One report block a subscriber sent about a stream the server forwards to it."""

    highest_sequence: int  # extended
    packets_lost: int  # cumulative
    fraction_lost: int  # of 256, since the previous report
    jitter: int  # RTP timestamp units
