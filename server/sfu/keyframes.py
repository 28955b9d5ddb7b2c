"""Keyframes: asking publishers for one, paced. (Where a subscriber may start, a VP8
keyframe, is read in C with the rest of the payload descriptor: ``PacketCopies.keyframe``.)"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

# A PLI makes the publisher's encoder spend bits on a keyframe; bursts of them
# (a room of subscribers joining at once, a lossy subscriber) must not turn
# into a keyframe storm, so requests are coalesced into one per interval.
DEFAULT_MIN_KEYFRAME_INTERVAL_S = 0.5


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
