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
from collections import deque
from collections.abc import Callable
from typing import Protocol

from aiortc import RTCRtpSender, RTCRtpTransceiver
from aiortc.rtcrtpparameters import RTCRtpSendParameters

from server.sfu.aiortc_internals import ForwardingOutput
from server.sfu.connection_quality import ReportHistory
from server.sfu.copy_sender import OversizeCopy, PacketCopies
from server.sfu.layers import Layer
from signaling.media import TrackKind

_SEQ_MASK = 0xFFFF
_TS_MASK = 0xFFFFFFFF
_HALF_SEQ = 0x8000
# Over a long run the "before this run" fence is slid forward, so it never
# falls half a sequence space behind and starts rejecting current packets.
_FENCE_SLIDE_AFTER = 0x4000
_FENCE_TRAIL = 0x2000
# The input sequence numbers a run dropped for temporal layers that are kept to
# place late packets (as mediasoup's SeqManager): at Chrome's three layers capped
# to TL0, three frames in four are dropped, so this reaches a few hundred packets
# back, far beyond how late a retransmission comes. A late packet older than the
# oldest kept, once more were dropped, is dropped: the drops after it are no longer
# all known.
DROPS_KEPT = 256
# Set on a kept drop whose packet started a picture, so the picture id was skipped.
_SKIPPED_PICTURE = 0x10000
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

    @property
    def simulcast(self) -> bool: ...

    def first_layer(self) -> Layer:
        """The layer a new leg starts on."""
        ...

    def leg_went_live(self, leg: ForwardingLeg) -> None:
        """The leg can send from now on (a video track asks its publisher for a keyframe)."""
        ...

    def request_keyframe(self, layer: Layer | None = None) -> None: ...


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
            self.leg.request_keyframe()

    def continuation_timestamp(self, now: float, clock_rate: int) -> int:
        """A timestamp for a new leg's first packet that continues this slot's line plausibly."""
        if self.last_sent_at is None:
            return self.last_timestamp
        elapsed = max(now - self.last_sent_at, 0.0)
        return (self.last_timestamp + int(elapsed * clock_rate) + 1) & _TS_MASK


class ForwardingLeg:
    """One published track forwarded to one subscriber through one slot."""

    def __init__(
        self,
        track: TrackSource,
        subscriber_id: str,
        slot: SubscriberSlot,
        on_switch: Callable[[], None] | None = None,
    ) -> None:
        self.track = track
        self._on_switch = on_switch
        self.subscriber_id = subscriber_id
        self.slot = slot
        self.negotiated = False
        self.closed = False
        self._run_start: int | None = None
        self._seq_offset = 0
        self.timestamp_offset: int | None = None
        self._waiting_since: float | None = None
        # The layer being forwarded (None: no run), the one wanted (None: paused),
        # and the layer the timestamp offset was set for.
        self.current: Layer | None = None
        self.target: Layer | None = track.first_layer()
        self._offset_layer: Layer | None = None
        # VP8 temporal layers above this are dropped (None: all forwarded); a raise
        # waits for the next TL0 frame (pending).
        self.max_temporal: int | None = None
        self._pending_temporal: int | None = None
        # This run's input sequence numbers dropped for a temporal layer, oldest
        # first (each with _SKIPPED_PICTURE when it skipped a picture id), the
        # newest of them, and whether older ones were forgotten: a packet older
        # than the newest drop (reordered, retransmitted) is placed by them.
        self._drops: deque[int] = deque(maxlen=DROPS_KEPT)
        self._newest_drop: int | None = None
        self._drops_forgotten = False
        self.switches = 0

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
        self.current = None

    def close(self) -> None:
        self.closed = True
        self.pause()

    def layer_restarted(self, layer: Layer) -> None:
        """``layer``'s numbering restarted: a run on it starts anew."""
        if self.current is layer:
            self.pause()

    def request_target_keyframe(self) -> None:
        """Ask for a keyframe of the layer this leg waits for (or forwards)."""
        layer = self.target
        if layer is not None:
            self.track.request_keyframe(layer)

    def request_keyframe(self) -> None:
        """The subscriber asked for a keyframe (PLI/FIR): of the layer it receives."""
        layer = self.current or self.target
        if layer is not None:
            self.track.request_keyframe(layer)

    def set_target(self, layer: Layer | None, max_temporal: int | None = None) -> bool:
        """Forward ``layer`` from its next keyframe on (None: pause now); True if it changed.

        Moving to another layer keeps the current one until the switch, and asks
        for a keyframe of the new one at once.
        """
        changed = layer is not self.target
        self.target = layer
        if max_temporal != self.max_temporal:
            if max_temporal is None or (
                self.max_temporal is not None and max_temporal > self.max_temporal
            ):
                self._pending_temporal = -1 if max_temporal is None else max_temporal
            else:
                self.max_temporal = max_temporal  # dropping more starts at once
                self._pending_temporal = None
        if not changed:
            return False
        if layer is None:
            self.pause()
        elif layer is not self.current and self.live and self.track.kind is TrackKind.VIDEO:
            self._waiting_since = None
            self.track.request_keyframe(layer)
        return True

    def forward(
        self,
        copies: PacketCopies,
        header_room: int,
        sequence_number: int,
        timestamp: int,
        layer: Layer,
        now: float,
        report_ntp: int,
        rtp_now: int | None,
    ) -> int:
        """Send this leg's copy of a packet of ``layer``; the bytes sent, 0 when none now.

        None is sent while the leg is not live, for a layer it neither forwards
        nor switches to at this packet, while a video leg waits for a keyframe,
        for a packet older than the current run (its numbers are taken), for a
        temporal layer it drops, or for a late packet it cannot place (one it
        dropped before, or one older than the drops it remembers). A late
        packet it can place (a retransmission filling a gap after later
        packets were dropped) takes the number and picture id it would have
        had, as mediasoup's SeqManager does. ``header_room`` is the largest header
        this copy may carry and stay within the MTU budget (``MAX_COPY``): a
        slot whose header is larger raises ``OversizeCopy`` and sends nothing
        (the subscriber sees one lost packet; the slot's lines are not moved).
        ``rtp_now`` is the publisher's RTP clock now on ``layer``, from its last
        sender report (None before one), for the slot's next SR. Raises what
        the output raises (``ConnectionError``, ``SrtpError``, ``OversizeCopy``):
        the track counts those. Runs once per copy, so placement is inline.
        """
        slot = self.slot
        output = slot.output
        if output is None or not self.negotiated or self.closed:
            return 0
        if output.header_size > header_room:
            raise OversizeCopy(f"a {output.header_size}-byte header does not fit")
        seq = sequence_number
        if layer is not self.current:
            if layer is not self.target:
                return 0
            if self.track.kind is TrackKind.VIDEO and not copies.keyframe:
                if self._waiting_since is None:
                    self._waiting_since = now
                elif now - self._waiting_since >= KEYFRAME_WAIT_RETRY_S:
                    # The keyframe or the request for it may have been lost.
                    self._waiting_since = now
                    self.track.request_keyframe(layer)
                return 0
            self._start_run(copies, seq, timestamp, layer, now)
        else:
            run_start = self._run_start
            if run_start is None:
                return 0  # not reached: a current layer always has a run
            since_start = (seq - run_start) & _SEQ_MASK
            if since_start >= _HALF_SEQ:
                return 0
            if since_start > _FENCE_SLIDE_AFTER:
                self._slide_run_start((seq - _FENCE_TRAIL) & _SEQ_MASK)
            tid = copies.tid
            if (
                tid >= 0
                and (self.max_temporal is not None or self._pending_temporal is not None)
                and self._drops_temporal(copies, seq, tid)
            ):
                return 0
            newest_drop = self._newest_drop
            if newest_drop is not None and (newest_drop - seq) & _SEQ_MASK < _HALF_SEQ:
                return self._forward_late(copies, seq, timestamp, report_ntp, rtp_now)

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

    def _forward_late(
        self,
        copies: PacketCopies,
        seq: int,
        timestamp: int,
        report_ntp: int,
        rtp_now: int | None,
    ) -> int:
        """Send a packet no newer than this run's newest temporal drop, where it belongs.

        The drops after it have each moved the sequence line down by one (and
        the picture line, for each picture they skipped) since its neighbours
        were numbered, so it takes its number and picture id back by adding
        them: it fills the gap its loss left. A packet the run dropped itself
        is dropped again; one older than every drop kept, once older ones were
        forgotten, is dropped, since the drops after it are no longer known.
        """
        later_drops = 0
        later_pictures = 0
        for entry in reversed(self._drops):
            dropped = entry & _SEQ_MASK
            if dropped == seq:
                return 0  # a retransmission of a packet this run dropped
            if (dropped - seq) & _SEQ_MASK >= _HALF_SEQ:
                break  # this drop and all before it are older than the packet
            later_drops += 1
            later_pictures += entry >> 16
        else:
            if self._drops_forgotten:
                return 0
        slot = self.slot
        output = slot.output
        assert output is not None
        out_seq = (seq + self._seq_offset + later_drops) & _SEQ_MASK
        timestamp_offset = self.timestamp_offset
        assert timestamp_offset is not None
        # A late packet moves neither the slot's next number nor its last timestamp.
        out_ts = (timestamp + timestamp_offset) & _TS_MASK
        report_rtp = out_ts if rtp_now is None else (rtp_now + timestamp_offset) & _TS_MASK
        if later_pictures and copies.picture_id >= 0:
            return output.send_copy(
                copies, out_seq, out_ts, report_ntp, report_rtp, picture_id_adjust=later_pictures
            )
        return output.send_copy(copies, out_seq, out_ts, report_ntp, report_rtp)

    def _newest(self, seq: int) -> bool:
        """Whether ``seq`` is newer than every packet of the run.

        Newer than the newest drop, and it would take the slot's next number or
        a later one: newer than the newest packet sent (which, the drops after
        it all being older than ``seq``, took a number below the next).
        """
        newest_drop = self._newest_drop
        if newest_drop is not None and (newest_drop - seq) & _SEQ_MASK < _HALF_SEQ:
            return False
        out_seq = seq + self._seq_offset
        return (out_seq - self.slot.next_sequence_number) & _SEQ_MASK < _HALF_SEQ

    def _slide_run_start(self, run_start: int) -> None:
        """Move the run's fence forward, forgetting the drops behind it.

        Packets older than the fence are not sent, so those drops can no longer
        place one, and kept drops stay within half the sequence space of every
        packet compared with them however long the run.
        """
        self._run_start = run_start
        drops = self._drops
        pruned = False
        while drops and ((drops[0] & _SEQ_MASK) - run_start) & _SEQ_MASK >= _HALF_SEQ:
            drops.popleft()
            pruned = True
        if pruned:
            # Whatever was forgotten is older still: behind the fence too.
            self._drops_forgotten = False
            if not drops:
                self._newest_drop = None

    def _start_run(
        self, copies: PacketCopies, seq: int, timestamp: int, layer: Layer, now: float
    ) -> None:
        slot = self.slot
        if self.current is not None:
            self.switches += 1
            if self._on_switch is not None:
                self._on_switch()
        self._run_start = seq
        self._waiting_since = None
        self._drops.clear()
        self._newest_drop = None
        self._drops_forgotten = False
        self._seq_offset = (slot.next_sequence_number - seq) & _SEQ_MASK
        previous = self._offset_layer
        if self.timestamp_offset is None or previous is not layer:
            self.timestamp_offset = self._timestamp_offset_for(previous, layer, timestamp, now)
            self._offset_layer = layer
        self.current = layer
        if self._pending_temporal is not None:
            self.max_temporal = None if self._pending_temporal < 0 else self._pending_temporal
            self._pending_temporal = None
        assert slot.output is not None
        if copies.picture_id >= 0 or copies.tl0picidx >= 0:
            slot.output.continue_vp8(copies)

    def _timestamp_offset_for(
        self, previous: Layer | None, layer: Layer, timestamp: int, now: float
    ) -> int:
        """The offset that carries the slot's timestamp line onto ``layer`` at ``timestamp``.

        From layer to layer of one publisher: the same instant on both clocks,
        through each layer's last sender report; the result must move the line
        forward (by less than two seconds), or the slot's continuation is used.
        """
        slot = self.slot
        clock_rate = self.track.clock_rate
        old_offset = self.timestamp_offset
        if (
            previous is not None
            and old_offset is not None
            and previous.sender_report is not None
            and layer.sender_report is not None
        ):
            old_ntp, old_rtp = previous.sender_report
            new_ntp, new_rtp = layer.sender_report
            since_report = ((timestamp - new_rtp + 0x80000000) & _TS_MASK) - 0x80000000
            on_old_line = old_rtp + since_report + (((new_ntp - old_ntp) * clock_rate) >> 32)
            offset = (old_offset + on_old_line - timestamp) & _TS_MASK
            ahead = ((timestamp + offset) - slot.last_timestamp) & _TS_MASK
            if 0 < ahead < 2 * clock_rate:
                return offset
        start = slot.continuation_timestamp(now, clock_rate)
        return (start - timestamp) & _TS_MASK

    def _drops_temporal(self, copies: PacketCopies, seq: int, tid: int) -> bool:
        """Whether this packet's temporal layer is dropped; shifts the lines if so.

        Only a packet newer than every one this run has seen shifts them (and
        is remembered): numbers after an older one are already given, so a
        late packet of a dropped layer just leaves its own number unused.
        """
        pending = self._pending_temporal
        if pending is not None and tid == 0 and copies.frame_start and self._newest(seq):
            # A TL0 frame references only TL0: higher layers can be added from here
            # (from the newest one: pictures after a late one may be dropped).
            self.max_temporal = None if pending < 0 else pending
            self._pending_temporal = None
        limit = self.max_temporal
        if limit is None or tid <= limit:
            return False
        # Inline (as _newest): once per dropped copy while a leg is capped.
        offset = self._seq_offset
        newest_drop = self._newest_drop
        if (seq + offset - self.slot.next_sequence_number) & _SEQ_MASK >= _HALF_SEQ or (
            newest_drop is not None and (newest_drop - seq) & _SEQ_MASK < _HALF_SEQ
        ):
            return True
        drops = self._drops
        if len(drops) == DROPS_KEPT:
            self._drops_forgotten = True  # the oldest is pushed out
        self._newest_drop = seq
        self._seq_offset = (offset - 1) & _SEQ_MASK
        if copies.frame_start:
            drops.append(seq | _SKIPPED_PICTURE)
            output = self.slot.output
            assert output is not None
            output.skip_picture()
        else:
            drops.append(seq)
        return True
