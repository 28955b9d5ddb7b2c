"""The per-publisher half of forwarding: one received track and its legs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from aiortc import RTCRtpReceiver
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters

from server.media import aiortc_internals as internals
from server.media.aiortc_internals import AnyRtcpPacket, RtcpSrPacket, RtpPacket
from server.media.codecs import is_rtx
from server.media.forwarding import ForwardingLeg
from server.media.keyframes import KeyframeRequester, is_vp8_keyframe_start
from server.media.stats import ForwardingStats
from signaling.media import TrackKind

logger = logging.getLogger(__name__)

# Seconds between the NTP epoch (1900) and the Unix epoch (1970).
_NTP_UNIX_OFFSET_S = 2208988800
_NTP_UNIX_OFFSET_MS = _NTP_UNIX_OFFSET_S * 1000


def _ntp_now() -> int:
    return int((time.time() + _NTP_UNIX_OFFSET_S) * (1 << 32))


class PublishedTrack:
    """A track a participant publishes, and every leg it is forwarded on.

    Its receiver's RTP handler is intercepted: each packet is forwarded to
    every live leg first, then aiortc's own handler runs for upstream NACK,
    REMB and statistics. No packet waits in a jitter buffer on the way.
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
    ) -> None:
        self.participant_id = participant_id
        self.kind = kind
        self.receiver = receiver
        self.clock_rate = 48000 if kind is TrackKind.AUDIO else 90000
        self.allowed = True
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
        self._rtx_ssrcs: dict[int, int] = {}
        # The publisher's last sender report (NTP, RTP timestamp), translated
        # per leg into the subscriber's timestamp line.
        self._sender_report: tuple[int, int] | None = None
        self._keyframes = KeyframeRequester(self._send_pli, clock, keyframe_interval_s)
        internals.run_without_decoder(receiver, self._started)
        internals.intercept_received_rtp(receiver, self._forward)
        internals.intercept_received_rtcp(receiver, self._observe_rtcp)

    @property
    def legs(self) -> dict[str, ForwardingLeg]:
        return self._legs

    @property
    def keyframe_requests_sent(self) -> int:
        return self._keyframes.sent_count

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
        if allowed and self.kind is TrackKind.VIDEO and self._leg_list:
            self._keyframes.request()

    def leg_went_live(self, leg: ForwardingLeg) -> None:
        if self.kind is TrackKind.VIDEO and self.allowed:
            self._keyframes.request()

    def request_keyframe(self) -> None:
        if self.kind is TrackKind.VIDEO:
            self._keyframes.request()

    def close(self) -> None:
        self._keyframes.close()
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
                self._rtx_ssrcs[encoding.rtx.ssrc] = encoding.ssrc

    async def _send_pli(self) -> None:
        if self.media_ssrc is None:
            return  # nothing received yet: the encoder's first frame will be a keyframe
        self._stats.keyframe_requests_sent += 1
        await internals.request_keyframe(self.receiver, self.media_ssrc)

    def _observe_rtcp(self, packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpSrPacket) and packet.ssrc == self.media_ssrc:
            info = packet.sender_info
            self._sender_report = (info.ntp_timestamp, info.rtp_timestamp)

    async def _forward(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        stats = self._stats
        stats.packets_in += 1
        payload_type = packet.payload_type
        if payload_type != self._payload_type:
            apt = self._rtx_payload_types.get(payload_type)
            original_ssrc = self._rtx_ssrcs.get(packet.ssrc)
            if apt is None or original_ssrc is None or len(packet.payload) < 2:
                return  # unknown payload, or RTX padding used for bandwidth probing
            packet = internals.unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)
        self.media_ssrc = packet.ssrc

        if self.kind is TrackKind.AUDIO:
            level = packet.extensions.audio_level
            if level is not None and self.allowed:
                self._on_audio_level(level[1])
        if not self.allowed:
            stats.packets_dropped_by_mute += 1
            return
        legs = self._leg_list
        if not legs:
            return

        keyframe_start = self.kind is TrackKind.VIDEO and is_vp8_keyframe_start(packet.payload)
        now = self._clock()
        abs_send_time: int | None = None
        report = self._sender_report
        sent = 0
        for leg in legs:
            output = leg.slot.output
            if output is None or not leg.live:
                continue
            out = leg.rewrite(packet, output, keyframe_start, now)
            if out is None:
                if leg.waited_too_long_for_keyframe(now):
                    self._keyframes.request()
                continue
            if abs_send_time is None:
                ntp = _ntp_now()
                abs_send_time = (ntp >> 14) & 0x00FFFFFF
            out.extensions.abs_send_time = abs_send_time
            if report is not None and leg.timestamp_offset is not None:
                report_ntp = report[0]
                report_rtp = (report[1] + leg.timestamp_offset) & 0xFFFFFFFF
            else:
                report_ntp = ntp
                report_rtp = out.timestamp
            try:
                await output.send(out, report_ntp, report_rtp)
            except ConnectionError:
                continue  # the subscriber's transport closed; its teardown follows
            sent += 1
        stats.packets_out += sent
        if sent and stats.latency_observer is not None:
            stats.latency_observer((time.time() * 1000 + _NTP_UNIX_OFFSET_MS) - arrival_time_ms)
