"""The per-subscriber half of forwarding: slots on a subscribe connection, and legs.

A *slot* is one sending transceiver on a subscriber's connection. It carries
one forwarded track at a time and outlives it: when a publisher leaves, the
slot goes inactive and is reused for the next publisher of that kind, so a
long session's SDP does not grow by two m-lines per departure. Because the
slot keeps its SSRC, it also owns the outgoing sequence and timestamp lines,
which stay continuous across whoever it carries.

A *leg* is one published track forwarded into one slot. It rewrites each
packet for its slot: SSRC, payload type, sequence number (a fixed offset per
run of forwarded packets), timestamp (a fixed offset per leg) and the header
extensions. A run starts when the leg goes live or resumes after a mute;
video runs start on a keyframe.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiortc import RTCRtpSender, RTCRtpTransceiver
from aiortc.rtcrtpparameters import RTCRtpSendParameters

from server.sfu.aiortc_internals import ForwardingOutput
from server.sfu.connection_quality import ReportHistory
from signaling.media import TrackKind

if TYPE_CHECKING:
    from server.sfu.published_track import PublishedTrack

_SEQ_MASK = 0xFFFF
_TS_MASK = 0xFFFFFFFF
_HALF_SEQ = 0x8000
# Over a long run the "before this run" fence is slid forward, so it never
# falls half a sequence space behind and starts rejecting current packets.
_FENCE_SLIDE_AFTER = 0x4000
_FENCE_TRAIL = 0x2000
# A video leg that has waited this long for a keyframe asks again (the first
# keyframe or the request for it may have been lost).
KEYFRAME_WAIT_RETRY_S = 1.0


class SubscriberSlot:
    """One sending transceiver on a subscribe connection."""

    def __init__(
        self,
        kind: TrackKind,
        transceiver: RTCRtpTransceiver,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kind = kind
        self.transceiver = transceiver
        # The subscriber's receiver reports about this slot (loss down).
        self.reports = ReportHistory(clock)
        self.leg: ForwardingLeg | None = None
        # Set once aiortc has started the sender (DTLS connected, negotiated).
        self.output: ForwardingOutput | None = None
        # RFC 3550: random initial values; sequence numbers in the lower half
        # so SRTP's rollover counter is not confused early (as aiortc does).
        self.next_sequence_number = random.randrange(0x8000)
        # The last forwarded packet's timestamp and when it went (ForwardingLeg.place).
        self.last_timestamp = random.randrange(1 << 32)
        self.last_sent_at: float | None = None

    @property
    def sender(self) -> RTCRtpSender:
        return self.transceiver.sender

    @property
    def mid(self) -> str | None:
        mid: str | None = self.transceiver.mid
        return mid

    def started(self, parameters: RTCRtpSendParameters) -> None:
        """aiortc started the sender: forwarding through it is possible from now on."""
        self.output = ForwardingOutput(self.sender, parameters)
        if self.leg is not None:
            self.leg.output_ready()

    def keyframe_requested(self) -> None:
        """The subscriber sent PLI/FIR: only the publisher can produce a keyframe."""
        if self.leg is not None:
            self.leg.track.request_keyframe()

    def continuation_timestamp(self, now: float, clock_rate: int) -> int:
        """A timestamp for a new leg's first packet that continues this slot's line plausibly."""
        if self.last_sent_at is None:
            return self.last_timestamp
        elapsed = max(now - self.last_sent_at, 0.0)
        return (self.last_timestamp + int(elapsed * clock_rate) + 1) & _TS_MASK


class ForwardingLeg:
    """One published track forwarded to one subscriber through one slot."""

    def __init__(self, track: PublishedTrack, subscriber_id: str, slot: SubscriberSlot) -> None:
        self.track = track
        self.subscriber_id = subscriber_id
        self.slot = slot
        self.negotiated = False
        self.closed = False
        self._run_start: int | None = None
        self._seq_offset = 0
        self.timestamp_offset: int | None = None
        self._waiting_since: float | None = None

    @property
    def live(self) -> bool:
        return self.negotiated and self.slot.output is not None and not self.closed

    @property
    def forwarding(self) -> bool:
        """Whether a run is in progress (for video: a keyframe has started it)."""
        return self._run_start is not None

    def mark_negotiated(self) -> None:
        self.negotiated = True
        if self.live:
            self.track.leg_went_live(self)

    def output_ready(self) -> None:
        if self.live:
            self.track.leg_went_live(self)

    def pause(self) -> None:
        """End the current run; the next one starts afresh (on a keyframe, for video)."""
        self._run_start = None
        self._waiting_since = None

    def close(self) -> None:
        self.closed = True
        self.pause()

    def waited_too_long_for_keyframe(self, now: float) -> bool:
        if self._waiting_since is None or now - self._waiting_since < KEYFRAME_WAIT_RETRY_S:
            return False
        self._waiting_since = now
        return True

    def place(
        self, sequence_number: int, timestamp: int, keyframe_start: bool, now: float
    ) -> tuple[int, int] | None:
        """Where a packet goes on this leg's slot: (sequence number, timestamp), or None.

        None means the leg must not send it: video waiting for a keyframe, or
        a packet older than the current run.
        """
        seq = sequence_number
        slot = self.slot
        if self._run_start is None:
            if self.track.kind is TrackKind.VIDEO and not keyframe_start:
                if self._waiting_since is None:
                    self._waiting_since = now
                return None
            self._run_start = seq
            self._waiting_since = None
            self._seq_offset = (slot.next_sequence_number - seq) & _SEQ_MASK
            if self.timestamp_offset is None:
                start = slot.continuation_timestamp(now, self.track.clock_rate)
                self.timestamp_offset = (start - timestamp) & _TS_MASK
        else:
            since_start = (seq - self._run_start) & _SEQ_MASK
            if since_start >= _HALF_SEQ:
                # Sent before this run started: its sequence numbers are taken.
                return None
            if since_start > _FENCE_SLIDE_AFTER:
                self._run_start = (seq - _FENCE_TRAIL) & _SEQ_MASK

        out_seq = (seq + self._seq_offset) & _SEQ_MASK
        if (out_seq - slot.next_sequence_number) & _SEQ_MASK < _HALF_SEQ:
            slot.next_sequence_number = (out_seq + 1) & _SEQ_MASK
        assert self.timestamp_offset is not None
        out_ts = (timestamp + self.timestamp_offset) & _TS_MASK
        slot.last_timestamp = out_ts
        slot.last_sent_at = now
        return out_seq, out_ts
