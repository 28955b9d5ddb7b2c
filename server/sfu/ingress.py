"""What the media ports accept: drop reasons, per-connection budgets, sequence validation.

The aiortc side of the receive path (``aiortc_internals.DatagramGuard``)
applies these rules to every datagram before aiortc or libsrtp sees it; this
module holds the rules themselves, which need no aiortc internals. The bounds
are explained in docs/media-plane.md ("The receive path's bounds").
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from enum import StrEnum

# The path MTU the server assumes (Ethernet): nothing legitimate arrives
# larger, and pylibsrtp's buffers are this size.
PATH_MTU = 1500

# A publish connection's ceiling. A 3-layer VP8 simulcast camera at its
# highest settings (720p 2.5 Mbit/s + 360p 0.6 + 180p 0.2) is about 3.3 Mbit/s,
# roughly 350 packets/s of ~1,200 bytes, bursting to three times that on a
# keyframe; Opus adds 50 packets/s; retransmissions during heavy loss can
# double it. 3,000 packets/s and 5 MB/s (40 Mbit/s) leave eight and twelve
# times that, so no honest browser comes near, while an abuser's cost to the
# server is capped at a few percent of a core.
PACKETS_PER_S_CEILING = 3000
BYTES_PER_S_CEILING = 5_000_000

# RFC 3550 appendix A.1 (there 3,000): a packet more than this far from the
# highest sequence number seen (ahead or behind) starts a probation instead
# of moving the stream; the next packet in sequence after it confirms a
# restart. Kept below the replay window aiortc gives libsrtp (1,024), so that
# no packet admitted ahead can make the stream's next packets "too old".
MAX_SEQUENCE_DROPOUT = 1000
# A gap larger than this is not worth asking for again: NACK state restarts
# instead of listing (and walking) every missing number.
NACK_WINDOW = 256
# A publish track whose encodings signalled no SSRC may bring this many
# (media and RTX for three simulcast layers).
UNSIGNALLED_SSRCS_PER_TRACK = 6
# One log line per participant per this many seconds for packets the
# handlers refused.
LOG_INTERVAL_S = 60.0


class DropReason(StrEnum):
    """Why a datagram arriving at a media port was dropped (the metric's label)."""

    OVERSIZE = "oversize"  # longer than the path MTU
    WRONG_SOURCE = "wrong_source"  # not from the selected ICE pair's remote address
    NOT_MEDIA = "not_media"  # neither STUN, DTLS nor RTP/RTCP (RFC 7983), or too short
    UNPROTECT = "unprotect"  # SRTP authentication or replay check failed
    MALFORMED = "malformed"  # unprotected, then failed to parse
    UNKNOWN_SSRC = "unknown_ssrc"  # an SSRC that was not negotiated
    HANDLER_ERROR = "handler_error"  # parsed, but the receive handler raised
    SEQUENCE_JUMP = "sequence_jump"  # far from the stream's sequence, on probation
    OVER_BUDGET = "over_budget"  # beyond the publish connection's ceiling
    DUPLICATE = "duplicate"  # a packet already received (Chrome probes with old ones on RTX)


class DropCounts:
    """Datagrams dropped at the media ports, by reason (process-wide, monotonic)."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[DropReason, int] = dict.fromkeys(DropReason, 0)

    def drop(self, reason: DropReason) -> None:
        self.counts[reason] += 1

    def total(self) -> int:
        return sum(self.counts.values())


class PublishBudget:
    """Packets and bytes per second one publish connection may send, in 1-second windows.

    ``on_exceeded`` runs at most once per window in which the ceiling is
    crossed; everything beyond the ceiling in that window is refused.
    """

    __slots__ = (
        "_bytes",
        "_clock",
        "_max_bytes",
        "_max_packets",
        "_on_exceeded",
        "_packets",
        "_reported",
        "_window_start",
        "exceeded_at",
    )

    def __init__(
        self,
        clock: Callable[[], float],
        on_exceeded: Callable[[], None],
        *,
        packets_per_s: int = PACKETS_PER_S_CEILING,
        bytes_per_s: int = BYTES_PER_S_CEILING,
    ) -> None:
        self._clock = clock
        self._on_exceeded = on_exceeded
        self._max_packets = packets_per_s
        self._max_bytes = bytes_per_s
        self._window_start = clock()
        self._packets = 0
        self._bytes = 0
        self._reported = False
        self.exceeded_at: float | None = None

    def admit(self, size: int) -> bool:
        now = self._clock()
        if now - self._window_start >= 1.0:
            self._window_start = now
            self._packets = 0
            self._bytes = 0
            self._reported = False
        self._packets += 1
        self._bytes += size
        if self._packets <= self._max_packets and self._bytes <= self._max_bytes:
            return True
        if not self._reported:
            self._reported = True
            self.exceeded_at = now
            self._on_exceeded()
        return False

    def exceeded_within(self, seconds: float) -> bool:
        return self.exceeded_at is not None and self._clock() - self.exceeded_at <= seconds


# How far back a duplicate is recognised: NACKs and RTX reach 128 packets
# back (aiortc's history), probing padding resends the last few.
SEEN_WINDOW = 1024


class SequenceCheck:
    """RFC 3550 A.1's sequence validation for one stream, without the initial probation.

    ``check`` says whether a packet belongs to the stream as it runs (True),
    is a lone jump to drop (False), or confirms a restart of the stream
    (``RESTARTED``): state built on the old numbering (NACKs, statistics,
    forwarding runs) must start again.
    """

    __slots__ = ("_bad_seq", "_max_seq", "_seen")

    RESTARTED = 2

    def __init__(self) -> None:
        self._max_seq: int | None = None
        self._bad_seq: int | None = None
        # The numbers received lately, by number modulo the window (-1: none).
        self._seen = array("i", [-1]) * SEEN_WINDOW

    def first_time(self, seq: int) -> bool:
        """Whether ``seq`` is new to the stream (not among the last SEEN_WINDOW
        numbers received); notes it.

        Chrome probes its uplink with RTX "payload padding": old packets sent
        again on the RTX stream, the same one many times. Forwarded, each would
        reach subscribers as a packet they already have, which their SRTP
        replay check drops after it crossed their downlink, and would count in
        the layer's rate. A retransmission the server asked for fills a gap,
        so it is new here.
        """
        index = seq % SEEN_WINDOW
        seen = self._seen
        if seen[index] == seq:
            return False
        seen[index] = seq
        return True

    def check(self, seq: int) -> bool | int:
        if self._max_seq is None:
            self._max_seq = seq
            return True
        ahead = (seq - self._max_seq) & 0xFFFF
        if ahead < MAX_SEQUENCE_DROPOUT:
            if ahead:
                self._max_seq = seq
            self._bad_seq = None
            return True
        if ahead > 0x10000 - MAX_SEQUENCE_DROPOUT:
            return True  # late or retransmitted: behind the highest, within the window
        if seq == self._bad_seq:
            self._max_seq = seq
            self._bad_seq = None
            return self.RESTARTED
        self._bad_seq = (seq + 1) & 0xFFFF
        return False

    @property
    def highest(self) -> int | None:
        return self._max_seq

    def admits(self, seq: int) -> bool:
        """Whether ``seq`` is worth authenticating, before SRTP does (from the clear header).

        libsrtp's replay window follows the highest index it authenticated:
        one packet far ahead, once unprotected, makes every packet of the
        stream as it runs "too old" for ~that many packets. So a packet far
        from the stream is not unprotected unless it is the one a previous
        far packet announced (a restart); ``check`` then confirms it once
        authenticated. Changes nothing but the announced number.
        """
        if self._max_seq is None:
            return True
        ahead = (seq - self._max_seq) & 0xFFFF
        if ahead < MAX_SEQUENCE_DROPOUT or ahead > 0x10000 - MAX_SEQUENCE_DROPOUT:
            return True
        if seq == self._bad_seq:
            return True
        self._bad_seq = (seq + 1) & 0xFFFF
        return False

    def near(self, seq: int) -> bool:
        """Whether ``seq`` is within the window of the highest number seen (for RTX's OSN)."""
        if self._max_seq is None:
            return True
        distance = (seq - self._max_seq) & 0xFFFF
        return distance < MAX_SEQUENCE_DROPOUT or distance > 0x10000 - MAX_SEQUENCE_DROPOUT


class RateLimitedLog:
    """At most one line per ``interval_s``; how many were held back is said with the next one."""

    __slots__ = ("_clock", "_interval_s", "_last", "suppressed")

    def __init__(self, clock: Callable[[], float], interval_s: float = LOG_INTERVAL_S) -> None:
        self._clock = clock
        self._interval_s = interval_s
        self._last: float | None = None
        self.suppressed = 0

    def ready(self) -> bool:
        now = self._clock()
        if self._last is not None and now - self._last < self._interval_s:
            self.suppressed += 1
            return False
        self._last = now
        return True

    def take_suppressed(self) -> int:
        count, self.suppressed = self.suppressed, 0
        return count
