"""The per-publisher half of forwarding: one received track and its legs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from aiortc import RTCRtpReceiver
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters

from server.sfu import aiortc_internals as internals
from server.sfu.aiortc_internals import AnyRtcpPacket, RtcpSrPacket, RtpPacket
from server.sfu.codecs import is_rtx
from server.sfu.copy_sender import MAX_COPY, OversizeCopy, PacketCopies, SrtpError
from server.sfu.forwarding_stats import ForwardingStats
from server.sfu.ingress import DropReason, SequenceCheck
from server.sfu.layers import SINGLE_LAYER, Layer
from server.sfu.legs import ForwardingLeg
from server.sfu.reports import ReceiveCounts
from signaling.media import TrackKind

logger = logging.getLogger(__name__)

# Seconds between the NTP epoch (1900) and the Unix epoch (1970).
_NTP_UNIX_OFFSET_S = 2208988800
_NTP_UNIX_OFFSET_MS = _NTP_UNIX_OFFSET_S * 1000
# Counted towards the bitrate: a fixed header without extensions.
_RTP_HEADER_SIZE = 12
# SSRCs one track keeps state for: media and RTX of three simulcast layers,
# and a spare. The datagram guard admits only negotiated SSRCs on the direct
# path; this bounds what arrives through aiortc's own (a TURN relay).
_MAX_SSRCS_PER_TRACK = 8
# The least REMB a simulcast publisher is sent: room for its three layers at
# Chrome's highest settings (720p 2.5, 360p 0.6, 180p 0.2 Mbit/s).
SIMULCAST_REMB_FLOOR_BPS = 3_300_000
# The lowest simulcast layer's keyframe requests are paced this much tighter.
_LOW_LAYER_KEYFRAME_SHARE = 0.2


class PublishedTrack:
    """A track a participant publishes, and every leg it is forwarded on.

    Its receiver's RTP handler is replaced: each packet is forwarded to every
    live leg first, then ``ReceiveBookkeeping`` keeps what aiortc's handler
    did for the publisher (receive statistics for RRs, NACK, REMB). Nothing
    is depayloaded and no packet waits in a jitter buffer.
    """

    def __init__(
        self,
        participant_id: str,
        kind: TrackKind,
        receiver: RTCRtpReceiver,
        *,
        clock: Callable[[], float],
        keyframe_interval_s: float,
        stats: ForwardingStats,
        on_audio_level: Callable[[int], None],
        rids: tuple[str, ...] = (),
    ) -> None:
        self.participant_id = participant_id
        self.kind = kind
        self.receiver = receiver
        self.clock_rate = 48000 if kind is TrackKind.AUDIO else 90000
        self.allowed = True
        # A shared screen (the publisher's second video): forwarded under its own rule.
        self.screen = False
        self.media_ssrc: int | None = None
        self._clock = clock
        self._stats = stats
        self._on_audio_level = on_audio_level
        self._legs: dict[str, ForwardingLeg] = {}
        # Iterated for every packet; rebuilt only when legs change, and safe
        # to iterate while a leg is added or removed during a send.
        self._leg_list: tuple[ForwardingLeg, ...] = ()
        self._payload_type: int | None = None
        self._rtx_payload_types: dict[int, int] = {}
        self._rtx_ssrc_of: dict[int, int] = {}
        # Sequence validation per SSRC received (bounded: _MAX_SSRCS_PER_TRACK).
        self._sequences: dict[int, SequenceCheck] = {}
        self.bytes_received = 0
        # The publisher's last sender report (NTP, RTP timestamp), translated
        # per leg into the subscriber's timestamp line.
        self._video = kind is TrackKind.VIDEO
        # Simulcast (rids, lowest resolution first) or one layer; each layer keeps its
        # SSRCs, sender report, keyframe requests and rate (server/sfu/layers.py).
        self.simulcast = bool(rids) and self._video
        names = rids if self.simulcast else (SINGLE_LAYER,)
        # A simulcast camera's lowest layer has small keyframes: asked for at once (a late
        # joiner's first picture, a resume), they cost its encoder little.
        self.layers: tuple[Layer, ...] = tuple(
            Layer(
                rid,
                index,
                self._send_pli,
                clock,
                keyframe_interval_s * _LOW_LAYER_KEYFRAME_SHARE
                if self.simulcast and index == 0
                else keyframe_interval_s,
            )
            for index, rid in enumerate(names)
        )
        self._layer_by_rid = {layer.rid: layer for layer in self.layers}
        # Media and RTX SSRC -> layer (bounded: a media and an RTX SSRC per layer).
        self._layer_of: dict[int, Layer] = {}
        self._rtx_layer_of: dict[int, Layer] = {}
        if self.simulcast:
            internals.expect_simulcast(receiver, rids)
        # Dynacast: when anyone last wanted each layer, and which layers the
        # publisher was last asked to send (it starts with all of them).
        now = clock()
        self.wanted_at: dict[str, float] = {layer.rid: now for layer in self.layers}
        self.active: dict[str, bool] = {layer.rid: True for layer in self.layers}
        # A receive-side estimate stays near 1.5x what arrives, so a simulcast
        # publisher told it would never get the room to turn on its upper layers
        # (its lowest alone arrives): it is told at least what all three need, as
        # Janus's videoroom tells publishers its configured bitrate. Its own
        # loss-based control still backs off on a lossy uplink.
        self._bookkeeping = internals.ReceiveBookkeeping(
            receiver, SIMULCAST_REMB_FLOOR_BPS if self.simulcast else 0
        )
        # Before receive() starts it: aiortc's own report loop dies on a bad report.
        internals.take_over_receiver_reports(receiver, stats)
        internals.guard_received_rtcp(receiver.transport, stats)
        internals.run_without_decoder(receiver, self._started)
        # RTP comes straight off the socket once the receiver has started, and
        # through aiortc's handler before that (or through a TURN relay).
        internals.receive_rtp_directly(receiver, self._on_rtp_now)
        internals.intercept_received_rtp(receiver, self._on_rtp, then_aiortc=False)
        internals.intercept_received_rtcp(receiver, self._observe_rtcp)

    @property
    def legs(self) -> dict[str, ForwardingLeg]:
        return self._legs

    @property
    def keyframe_requests_sent(self) -> int:
        return sum(layer.keyframes.sent_count for layer in self.layers)

    def layer_rids(self) -> tuple[str, ...]:
        return tuple(layer.rid for layer in self.layers)

    def layer(self, rid: str) -> Layer | None:
        return self._layer_by_rid.get(rid)

    def first_layer(self) -> Layer:
        """Where a new leg starts: the lowest layer (its keyframe is the smallest, so the
        first picture comes soonest); selection moves it up from there."""
        return self.layers[0]

    def receive_counts(self) -> ReceiveCounts | None:
        """Packets expected and received so far on the media SSRCs (before retransmissions)."""
        counts = [
            c
            for layer in self.layers
            if layer.media_ssrc is not None
            and (c := self._bookkeeping.counts(layer.media_ssrc)) is not None
        ]
        if not counts:
            return None
        if len(counts) == 1:
            return counts[0]
        return ReceiveCounts(
            expected=sum(c.expected for c in counts),
            received=sum(c.received for c in counts),
            jitter_s=max(c.jitter_s for c in counts),
        )

    def add_leg(self, leg: ForwardingLeg) -> None:
        self._legs[leg.subscriber_id] = leg
        self._leg_list = tuple(self._legs.values())

    def remove_leg(self, subscriber_id: str) -> ForwardingLeg | None:
        leg = self._legs.pop(subscriber_id, None)
        if leg is not None:
            leg.close()
            self._leg_list = tuple(self._legs.values())
        return leg

    def set_allowed(self, allowed: bool) -> None:
        if allowed == self.allowed:
            return
        self.allowed = allowed
        for leg in self._leg_list:
            leg.pause()
        if allowed and self.kind is TrackKind.VIDEO:
            for leg in self._leg_list:
                leg.request_target_keyframe()

    def leg_went_live(self, leg: ForwardingLeg) -> None:
        if self.kind is TrackKind.VIDEO and self.allowed:
            leg.request_target_keyframe()

    def request_keyframe(self, layer: Layer | None = None) -> None:
        """Ask the publisher for a keyframe of ``layer`` (every layer: None)."""
        if self.kind is not TrackKind.VIDEO:
            return
        for each in self.layers if layer is None else (layer,):
            each.keyframes.request()

    def close(self) -> None:
        for layer in self.layers:
            layer.keyframes.close()
        for leg in self._leg_list:
            leg.close()
        self._legs.clear()
        self._leg_list = ()

    def _started(self, parameters: RTCRtpReceiveParameters) -> None:
        for codec in parameters.codecs:
            if codec.payloadType is None:
                continue
            if is_rtx(codec):
                apt = codec.parameters.get("apt")
                if isinstance(apt, int):
                    self._rtx_payload_types[codec.payloadType] = apt
            elif self._payload_type is None:
                self._payload_type = codec.payloadType
        for encoding in parameters.encodings:
            if encoding.rtx is not None and encoding.ssrc is not None:
                self._rtx_ssrc_of[encoding.rtx.ssrc] = encoding.ssrc

    async def _send_pli(self, layer: Layer) -> None:
        if layer.media_ssrc is None:
            return  # nothing received yet: the encoder's first frame will be a keyframe
        self._stats.keyframe_requests_sent += 1
        await internals.request_keyframe(self.receiver, layer.media_ssrc)

    def _observe_rtcp(self, packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpSrPacket):
            layer = self._layer_of.get(packet.ssrc)
            if layer is not None:
                info = packet.sender_info
                layer.sender_report = (info.ntp_timestamp, info.rtp_timestamp)

    def _learn_layer(self, packet: RtpPacket) -> Layer | None:
        """The layer of a simulcast packet on an SSRC not seen yet, from its rid (media)
        or repaired rid (RTX); one media and one RTX SSRC per layer."""
        extensions = packet.extensions
        rid = extensions.rtp_stream_id
        if rid is not None:
            layer = self._layer_by_rid.get(rid)
            if layer is None or layer.media_ssrc is not None:
                return None
            layer.media_ssrc = packet.ssrc
            self._layer_of[packet.ssrc] = layer
            return layer
        rid = extensions.repaired_rtp_stream_id
        layer = None if rid is None else self._layer_by_rid.get(rid)
        if layer is None or layer.rtx_ssrc is not None or layer.media_ssrc is None:
            return None
        layer.rtx_ssrc = packet.ssrc
        self._rtx_layer_of[packet.ssrc] = layer
        self._rtx_ssrc_of[packet.ssrc] = layer.media_ssrc
        return layer

    async def _on_rtp(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        self._on_rtp_now(packet, arrival_time_ms)

    def _on_rtp_now(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        sequences = self._sequences
        check = sequences.get(packet.ssrc)
        if check is None:
            if len(sequences) >= _MAX_SSRCS_PER_TRACK:
                self._stats.drops.drop(DropReason.UNKNOWN_SSRC)
                return
            check = sequences[packet.ssrc] = SequenceCheck()
        verdict = check.check(packet.sequence_number)
        if verdict is False:
            # A lone packet far from the stream: dropped before it moves NACKs,
            # statistics or the legs' runs (RFC 3550 A.1's probation).
            self._stats.drops.drop(DropReason.SEQUENCE_JUMP)
            return
        media = self._media_packet(packet)
        # The media stream's check: this packet's own, or a retransmission's original's.
        stream = check if media is packet or media is None else sequences.get(media.ssrc)
        if (
            media is not None
            and media is not packet
            and stream is not None
            and not stream.near(media.sequence_number)
        ):
            # A retransmission of a packet never sent (or long gone).
            self._stats.drops.drop(DropReason.SEQUENCE_JUMP)
            return
        if verdict == SequenceCheck.RESTARTED:
            self._restart(packet.ssrc)
        if media is not None:
            if stream is not None and not stream.first_time(media.sequence_number):
                # Already received (and forwarded): counted, not sent again.
                self._stats.drops.drop(DropReason.DUPLICATE)
                self._bookkeeping.observe(packet, arrival_time_ms, media)
                return
            layer = self._layer_of.get(media.ssrc)
            if layer is None:
                if self.simulcast:
                    # Not (yet) known as a layer: its first packets name their rid.
                    self._bookkeeping.observe(packet, arrival_time_ms, media)
                    return
                layer = self.layers[0]
                if layer.media_ssrc is None:
                    layer.media_ssrc = media.ssrc
                    self._layer_of[media.ssrc] = layer
                elif layer.media_ssrc != media.ssrc:
                    # The publisher's encoder restarted on a new SSRC: follow it.
                    self._layer_of.pop(layer.media_ssrc, None)
                    layer.media_ssrc = media.ssrc
                    self._layer_of[media.ssrc] = layer
            self._forward(media, arrival_time_ms, layer)
        # After forwarding, so bookkeeping never delays a packet.
        self._bookkeeping.observe(packet, arrival_time_ms, media)

    def _restart(self, ssrc: int) -> None:
        """The publisher restarted its numbering on ``ssrc``: start afresh, promptly."""
        self._bookkeeping.restart(ssrc)
        layer = self._layer_of.get(ssrc)
        if layer is not None:
            for leg in self._leg_list:
                leg.layer_restarted(layer)  # its next run starts on this numbering
            self.request_keyframe(layer)

    def ssrc_state_count(self) -> int:
        """SSRC-keyed entries this track keeps, its bookkeeping's included (for tests)."""
        return len(self._sequences) + self._bookkeeping.stream_count()

    def _media_packet(self, packet: RtpPacket) -> RtpPacket | None:
        """``packet``, unwrapped if it is a retransmission; None if it carries no media."""
        payload_type = packet.payload_type
        ssrc = packet.ssrc
        if (
            self.simulcast
            and ssrc not in self._layer_of
            and ssrc not in self._rtx_layer_of
            and self._learn_layer(packet) is None
        ):
            return None  # a layer's first packets name their rid; others are not media yet
        if payload_type == self._payload_type:
            return packet
        apt = self._rtx_payload_types.get(payload_type)
        original_ssrc = self._rtx_ssrc_of.get(packet.ssrc)
        if apt is None or original_ssrc is None or len(packet.payload) < 2:
            return None  # unknown payload, or RTX padding used for bandwidth probing
        return internals.unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)

    def _forward(self, packet: RtpPacket, arrival_time_ms: int, layer: Layer) -> None:
        stats = self._stats
        stats.packets_in += 1
        if self.media_ssrc is None:
            self.media_ssrc = packet.ssrc
        payload = packet.payload
        size = len(payload) + _RTP_HEADER_SIZE
        self.bytes_received += size
        layer.bytes_received += size
        now = self._clock()
        layer.last_packet_at = now
        audio_level = packet.extensions.audio_level
        if audio_level is not None and self.allowed and self.kind is TrackKind.AUDIO:
            self._on_audio_level(audio_level[1])
        if not self.allowed:
            stats.packets_dropped_by_mute += 1
            return
        legs = self._leg_list
        if not legs:
            if self._video:
                # Still read: a layer's size is known before anyone receives it.
                self._read_layer(
                    PacketCopies(
                        marker=False,
                        payload=payload,
                        padding_size=0,
                        abs_send_time=0,
                        audio_level=None,
                        vp8=True,
                    ),
                    layer,
                )
            return

        ntp = int((time.time() + _NTP_UNIX_OFFSET_S) * (1 << 32))
        copies = PacketCopies(
            marker=bool(packet.marker),
            payload=payload,
            padding_size=packet.padding_size,
            abs_send_time=ntp >> 14,
            audio_level=audio_level,
            vp8=self._video,
        )
        self._read_layer(copies, layer)
        # The SR clock pair, in the publisher's timestamp line: the publisher's
        # last SR carried forward to now, so audio and video of one publisher
        # stay in sync and each SR's NTP time is fresh (subscribers' RTT).
        report = layer.sender_report
        if report is None:
            rtp_now: int | None = None
        else:
            rtp_now = report[1] + (((ntp - report[0]) * self.clock_rate) >> 32)
        sequence_number = packet.sequence_number
        timestamp = packet.timestamp
        # The largest header a slot may write and still stay within MAX_COPY.
        header_room = MAX_COPY - len(copies.payload)
        sent = 0
        sent_bytes = 0
        for leg in legs:
            try:
                size = leg.forward(
                    copies, header_room, sequence_number, timestamp, layer, now, ntp, rtp_now
                )
            except ConnectionError:
                continue  # the subscriber's transport closed; its teardown follows
            except OversizeCopy:
                # Too large once rewritten for this slot: not sent, so it is one lost
                # packet to this subscriber (kept out of the history: a NACK for it
                # goes unanswered, as for any packet the server never had).
                stats.oversize_dropped += 1
                continue
            except SrtpError as error:
                # One subscriber's SRTP session failing must not cost the others theirs.
                stats.copies_failed += 1
                if stats.copies_failed == 1 or stats.copies_failed % 1000 == 0:
                    logger.warning("SRTP refused a forwarded copy (status %s)", error.args[0])
                continue
            if size:
                sent += 1
                sent_bytes += size
        stats.packets_out += sent
        stats.bytes_out += sent_bytes
        if sent and stats.latency_observer is not None:
            stats.latency_observer((time.time() * 1000 + _NTP_UNIX_OFFSET_MS) - arrival_time_ms)

    @staticmethod
    def _read_layer(copies: PacketCopies, layer: Layer) -> None:
        """What a packet's VP8 descriptor says of its layer: its size (keyframes carry
        it) and whether it has temporal layers."""
        if copies.keyframe and copies.width:
            layer.width, layer.height = copies.width, copies.height
        if copies.tid > 0:
            layer.temporal = True
