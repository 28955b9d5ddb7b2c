"""Which codecs the media plane negotiates, and why only these.

Forwarding never transcodes, so a subscriber must receive exactly the codec
its publisher sends. Every participant therefore negotiates the same codec
per kind: Opus for audio (every browser has it), VP8 for video (every
browser has it, and the media plane can find its keyframes, which a new or
resumed leg must start on). Chromium also offers VP9, H264 and AV1; the
publish answer simply leaves them out, and RTX stays wherever its base codec
does.
"""

from __future__ import annotations

from aiortc import RTCRtpSender
from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpCodecParameters

from signaling.media import TrackKind

FORWARDED_MIME_TYPES: dict[TrackKind, str] = {
    TrackKind.AUDIO: "audio/opus",
    TrackKind.VIDEO: "video/vp8",
}


def is_forwardable(kind: TrackKind, codec: RTCRtpCodecParameters) -> bool:
    mime: str = codec.mimeType.lower()
    return mime == FORWARDED_MIME_TYPES[kind]


def is_rtx(codec: RTCRtpCodecParameters) -> bool:
    mime: str = codec.mimeType.lower()
    return mime.endswith("/rtx")


def subscribe_codec_preferences(kind: TrackKind) -> list[RTCRtpCodecCapability]:
    """The codecs a subscribe offer lists for ``kind``: the forwarded one, plus RTX for video."""
    wanted = {FORWARDED_MIME_TYPES[kind], "video/rtx"}
    return [
        codec
        for codec in RTCRtpSender.getCapabilities(kind.value).codecs
        if codec.mimeType.lower() in wanted
    ]
