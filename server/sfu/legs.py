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

A leg never holds its track's class: it sees the track through
``TrackSource``, what mediasoup's Consumer sees of its Producer through a
listener. The track holds its legs and calls ``ForwardingLeg.forward`` once
per copy; nothing outside the leg reads its fields.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Protocol

from aiortc import RTCRtpSender, RTCRtpTransceiver
from aiortc.rtcrtpparameters import RTCRtpSendParameters

from server.sfu.aiortc_internals import ForwardingOutput
from server.sfu.connection_quality import ReportHistory
from server.sfu.copy_sender import OversizeCopy, PacketCopies
from signaling.media import TrackKind

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


class TrackSource(Protocol):
    """What a leg needs of the published track it forwards."""

    @property
    def participant_id(self) -> str: ...

    @property
    def kind(self) -> TrackKind: ...

    @property
    def clock_rate(self) -> int: ...

    @property
    def screen(self) -> bool:
        """A shared screen rather than a camera: subscribers are told which is which."""
        ...

    def leg_went_live(self, leg: ForwardingLeg) -> None:
        """The leg can send from now on (a video track asks its publisher for a keyframe)."""
        ...

    def request_keyframe(self) -> None: ...


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

    def __init__(self, track: TrackSource, subscriber_id: str, slot: SubscriberSlot) -> None:
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

    def forward(
        self,
        copies: PacketCopies,
        header_room: int,
        sequence_number: int,
        timestamp: int,
        keyframe_start: bool,
        now: float,
        report_ntp: int,
        rtp_now: int | None,
    ) -> int:
        """Send this leg's copy of a packet; the bytes sent, 0 when it sends none now.

        None is sent while the leg is not live, while a video leg waits for a
        keyframe, or for a packet older than the current run (its numbers are
        taken). ``header_room`` is the largest header this copy may carry and
        stay within the MTU budget (``MAX_COPY``): a slot whose header is larger
        raises ``OversizeCopy`` and sends nothing (the subscriber sees one lost
        packet; the slot's lines are not moved).
        ``rtp_now`` is the publisher's RTP clock now, from its last sender report
        (None before one), for the slot's next SR. Raises what the output raises
        (``ConnectionError``, ``SrtpError``, ``OversizeCopy``): the track counts
        those. Runs once per copy, so placement is written inline.
        """
        slot = self.slot
        output = slot.output
        if output is None or not self.negotiated or self.closed:
            return 0
        if output.header_size > header_room:
            raise OversizeCopy(f"a {output.header_size}-byte header does not fit")
        seq = sequence_number
        if self._run_start is None:
            if self.track.kind is TrackKind.VIDEO and not keyframe_start:
                if self._waiting_since is None:
                    self._waiting_since = now
                elif now - self._waiting_since >= KEYFRAME_WAIT_RETRY_S:
                    # The first keyframe or the request for it may have been lost.
                    self._waiting_since = now
                    self.track.request_keyframe()
                return 0
            self._run_start = seq
            self._waiting_since = None
            self._seq_offset = (slot.next_sequence_number - seq) & _SEQ_MASK
            if self.timestamp_offset is None:
                start = slot.continuation_timestamp(now, self.track.clock_rate)
                self.timestamp_offset = (start - timestamp) & _TS_MASK
        else:
            since_start = (seq - self._run_start) & _SEQ_MASK
            if since_start >= _HALF_SEQ:
                return 0
            if since_start > _FENCE_SLIDE_AFTER:
                self._run_start = (seq - _FENCE_TRAIL) & _SEQ_MASK

        out_seq = (seq + self._seq_offset) & _SEQ_MASK
        if (out_seq - slot.next_sequence_number) & _SEQ_MASK < _HALF_SEQ:
            slot.next_sequence_number = (out_seq + 1) & _SEQ_MASK
        timestamp_offset = self.timestamp_offset
        assert timestamp_offset is not None
        out_ts = (timestamp + timestamp_offset) & _TS_MASK
        slot.last_timestamp = out_ts
        slot.last_sent_at = now
        report_rtp = out_ts if rtp_now is None else (rtp_now + timestamp_offset) & _TS_MASK
        return output.send_copy(copies, out_seq, out_ts, report_ntp, report_rtp)
