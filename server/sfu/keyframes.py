"""Keyframes: recognising where a subscriber may start, and asking publishers for one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

# A PLI makes the publisher's encoder spend bits on a keyframe; bursts of them
# (a room of subscribers joining at once, a lossy subscriber) must not turn
# into a keyframe storm, so requests are coalesced into one per interval.
DEFAULT_MIN_KEYFRAME_INTERVAL_S = 0.5


def is_vp8_keyframe_start(payload: bytes) -> bool:
    """Whether an RTP payload starts a VP8 keyframe (RFC 7741 sections 4.2 and 4.3).

    True for the packet whose payload descriptor has S=1 and PID=0 and whose
    VP8 payload header has the inverse keyframe bit P == 0.
    """
    if not payload:
        return False
    first = payload[0]
    if not first & 0x10 or first & 0x07:
        return False  # not the start of partition 0
    index = 1
    if first & 0x80:  # X: extended control bits follow
        if len(payload) < 2:
            return False
        extended = payload[1]
        index = 2
        if extended & 0x80:  # I: picture id, 7 or 15 bits
            if len(payload) <= index:
                return False
            index += 2 if payload[index] & 0x80 else 1
        if extended & 0x40:  # L: TL0PICIDX
            index += 1
        if extended & 0x30:  # T or K: TID/Y/KEYIDX byte
            index += 1
    if len(payload) <= index:
        return False
    return payload[index] & 0x01 == 0


class KeyframeRequester:
    """Coalesces keyframe requests for one published video track.

    At most one PLI per ``min_interval_s``; a request inside the window is
    deferred to the window's end, never dropped, so whoever asked still gets
    a keyframe.
    """

    def __init__(
        self,
        send_pli: Callable[[], Awaitable[None]],
        clock: Callable[[], float],
        min_interval_s: float = DEFAULT_MIN_KEYFRAME_INTERVAL_S,
    ) -> None:
        self._send_pli = send_pli
        self._clock = clock
        self._min_interval_s = min_interval_s
        self._last_sent: float | None = None
        self._deferred: asyncio.TimerHandle | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._closed = False
        self.sent_count = 0

    @property
    def pending(self) -> bool:
        return self._deferred is not None

    def request(self) -> None:
        if self._closed or self._deferred is not None:
            return  # an already scheduled PLI will serve this request too
        now = self._clock()
        wait = 0.0 if self._last_sent is None else self._last_sent + self._min_interval_s - now
        if wait <= 0:
            self._fire()
        else:
            self._deferred = asyncio.get_running_loop().call_later(wait, self._fire)

    def close(self) -> None:
        self._closed = True
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None
        for task in self._in_flight:
            task.cancel()

    def _fire(self) -> None:
        self._deferred = None
        if self._closed:
            return
        self._last_sent = self._clock()
        self.sent_count += 1
        task = asyncio.get_running_loop().create_task(self._send())
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _send(self) -> None:
        try:
            await self._send_pli()
        except ConnectionError:
            logger.debug("keyframe request not sent: publisher transport is closed")
