"""One spatial layer of a published track, as the server receives it.

A simulcast camera is three layers (``signaling.media.SIMULCAST_RIDS``, lowest
resolution first), each an RTP stream of its own: its media and RTX SSRC, its
sequence numbers, its timestamp line with its own sender reports, its
keyframes. Any other track (audio, a screen, a publisher that does not
simulcast) is one layer named ``SINGLE_LAYER``. Legs forward one layer at a
time and switch at that layer's keyframes (``server/sfu/legs.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from server.sfu.keyframes import KeyframeRequester

# The layer of a track that is not simulcast (the operator API's "single").
SINGLE_LAYER = "single"
# Until a layer's rate is measured, what it is assumed to cost (bits per second):
# Chrome's defaults for 640x480 simulcast are about these.
NOMINAL_BITRATE_BPS = {"q": 150_000, "h": 500_000, "f": 1_200_000, SINGLE_LAYER: 800_000}
# A layer's rate is measured over windows at least this long.
_RATE_WINDOW_S = 1.0
# A layer that sent nothing for this long is not being sent (the publisher paused it).
LIVE_WITHIN_S = 1.5


class Layer:
    """One layer's receive state: SSRCs, last sender report, size, rate, keyframe requests."""

    __slots__ = (
        "_rate_at",
        "_rate_bytes",
        "bitrate_bps",
        "bytes_received",
        "height",
        "index",
        "keyframes",
        "last_packet_at",
        "media_ssrc",
        "rid",
        "rtx_ssrc",
        "sender_report",
        "temporal",
        "width",
    )

    def __init__(
        self,
        rid: str,
        index: int,
        send_pli: Callable[[Layer], Awaitable[None]],
        clock: Callable[[], float],
        keyframe_interval_s: float,
    ) -> None:
        self.rid = rid
        # Position in the track's layers, lowest resolution first.
        self.index = index
        self.media_ssrc: int | None = None
        self.rtx_ssrc: int | None = None
        # The publisher's last sender report on this layer: (NTP, RTP timestamp).
        self.sender_report: tuple[int, int] | None = None
        # From the layer's last VP8 keyframe (0: none seen yet).
        self.width = 0
        self.height = 0
        self.bytes_received = 0
        # VP8 temporal layers seen (a TID above 0): the base alone is a cheaper rate.
        self.temporal = False
        self.last_packet_at: float | None = None
        self.bitrate_bps: float | None = None
        self._rate_bytes = 0
        self._rate_at: float | None = None

        async def send() -> None:
            await send_pli(self)

        # Coalesced per layer: a PLI names the layer's SSRC, and only its encoder answers.
        self.keyframes = KeyframeRequester(send, clock, keyframe_interval_s)

    def live(self, now: float) -> bool:
        """Whether the publisher is sending this layer now."""
        return self.last_packet_at is not None and now - self.last_packet_at < LIVE_WITHIN_S

    def measure(self, now: float) -> float:
        """The layer's bitrate (bits per second), measured over the last window or so;
        the nominal rate until measured, 0 while the layer is not being sent."""
        if self._rate_at is None:
            self._rate_at, self._rate_bytes = now, self.bytes_received
        elif now - self._rate_at >= _RATE_WINDOW_S:
            rate = (self.bytes_received - self._rate_bytes) * 8 / (now - self._rate_at)
            # A little smoothing: one keyframe must not look like the layer's rate.
            previous = self.bitrate_bps
            self.bitrate_bps = rate if previous is None else 0.5 * previous + 0.5 * rate
            self._rate_at, self._rate_bytes = now, self.bytes_received
        if not self.live(now):
            return 0.0
        if self.bitrate_bps is None or self.bitrate_bps <= 0:
            return float(NOMINAL_BITRATE_BPS.get(self.rid, NOMINAL_BITRATE_BPS[SINGLE_LAYER]))
        return self.bitrate_bps

    def expected_bitrate(self) -> float:
        """What the layer costs when sent: its last measured rate, or the nominal one."""
        if self.bitrate_bps:
            return self.bitrate_bps
        return float(NOMINAL_BITRATE_BPS.get(self.rid, NOMINAL_BITRATE_BPS[SINGLE_LAYER]))
