"""A subscriber's downlink: how much the server may send it (no I/O, clock injected).

Chosen: REMB with abs-send-time, checked against receiver-report loss
(docs/media-plane.md, "The downlink estimate"). Every copy the server sends
already carries a fresh abs-send-time, and a subscribe offer negotiates
``goog-remb`` on video, so Chrome (and aiortc) run their receive-side delay
estimator and report REMB with no work at the server beyond reading it;
transport-wide congestion control would mean a sequence number per copy
across the connection, written in C, and a send-side estimator in Python
per subscriber. Loss is read from the receiver reports the server already
keeps per slot.

A receive-side estimate never says much more than it receives (Chrome caps
REMB near 1.5x the incoming rate, aiortc likewise), so it shows congestion
rather than capacity, and without probing (padding) it can never justify a
step from one layer to the next (h to f is more than double). So:

- while the estimate keeps up with what is sent (and loss stays under 10 %),
  there is no cap, and layers go up, one camera per round (``probing``);
- when it falls below what is sent (``CONGESTED_SHARE``), or loss passes 10 %,
  the budget comes down to the estimate (loss: what is sent, less half the
  loss) and stays there for ``HOLD_S``; a step up that brings congestion back
  soon after doubles the hold (up to ``MAX_HOLD_S``), so a link that cannot
  carry the next layer is not tried every few seconds.

Where the subscriber's browser accepted transport-wide congestion control
(``server/sfu/transport_cc.py``), its feedback takes REMB's place
(``QueueSignals``): the server knows when each copy went and the feedback when
it arrived, so a queue building on the way shows within a feedback interval
(50-250 ms) as delay over the path's least, before anything is lost, and what
arrived per second while it built is the link's rate. The same rule then
runs on that: a standing queue (``QUEUE_FULL_S`` even at its least over
``QUEUE_WINDOW_S``, so a keyframe's burst, gone in tens of milliseconds, is not
one) is a full link and caps what is sent to what arrived, less a share that
drains the queue; no queue (``QUEUE_CLEAR_S``) lets layers go up one camera
at a time, each step watched by the next feedback. Audio is in the same
count: the cap is for all the subscriber receives, and video gets what audio
leaves of it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from server.sfu.transport_cc import ARRIVAL_PERIOD_US

# A REMB older than this says nothing of now.
REMB_FRESH_S = 5.0
# Below this share of what is being sent, the estimate says the link is full.
CONGESTED_SHARE = 0.85
# Loss (fraction) at which the link counts as congested whatever REMB says.
CONGESTED_LOSS = 0.10
# After congestion, the budget is not raised for this long (doubled, up to the
# maximum, when the step up after a hold brings congestion back).
HOLD_S = 8.0
MAX_HOLD_S = 64.0
# Rounds in a row the estimate must stay under CONGESTED_SHARE of what is sent.
_ROUNDS_BELOW = 3
# An estimate this far below what is sent is believed at once.
_FAR_BELOW = 0.5
# Sending less than this tells nothing about the link.
_MIN_MEANINGFUL_BPS = 100_000.0

# Transport-wide feedback older than this says nothing of now (browsers send
# one every 50-250 ms while packets arrive).
FEEDBACK_FRESH_S = 2.0
# A queue this long, even at its least over QUEUE_WINDOW_S, is a full link;
# under QUEUE_CLEAR_S the link has room. (A browser's jitter buffer hides a
# few tens of milliseconds of change; the narrowest links queue at most
# about 100 ms before they drop.)
QUEUE_FULL_S = 0.025
QUEUE_CLEAR_S = 0.012
QUEUE_WINDOW_S = 0.4
# The path's least delay is looked for over this long: long enough that a queue
# the server built is not taken for the path, short enough to follow clock drift.
BASE_WINDOW_S = 30.0
_BASE_BUCKET_S = 1.0
# What arrived per second is measured over this long.
RATE_WINDOW_S = 1.0
# A full link is sent this share of what it delivered, so the queue drains.
DRAIN_SHARE = 0.75
# After a cut, the cap is not cut again for this long: the signals still show
# the second before it.
SETTLE_S = 1.5
# What a full link was seen to carry bounds the steps up for this long; after
# it, the link may have changed, and steps are tried again.
CAPACITY_MEMORY_S = 60.0
CAPACITY_GROWTH_PER_S = 1.03
ARRIVAL_PERIOD_S = ARRIVAL_PERIOD_US / 1e6
_HALF_PERIOD_S = ARRIVAL_PERIOD_S / 2
# Per packet on the wire beyond the RTP packet: SRTP's tag (10-16), UDP (8), IPv4 (20).
PACKET_OVERHEAD_BYTES = 40


@dataclass(frozen=True, slots=True)
class DeliveredPacket:
    """One numbered packet as its feedback tells it, matched with the send log."""

    sent_at: float  # the server's monotonic clock, seconds
    size: int  # bytes of RTP (before SRTP)
    video: bool
    arrival: float | None  # the receiver's clock (its own origin, wrapping), s; None: lost


class QueueSignals:
    """What a subscriber's transport-wide feedback says of the queue on her downlink."""

    __slots__ = (
        "_arrived",
        "_base_buckets",
        "_clock",
        "_newest_arrival",
        "_outcomes",
        "_queue",
        "last_feedback_at",
    )

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        # (bucket start, least one-way delay in it): the path's least delay.
        self._base_buckets: deque[tuple[float, float]] = deque()
        # (sent_at, one-way delay) of recent packets: the queue now.
        self._queue: deque[tuple[float, float]] = deque()
        # (arrival, wire bytes, video) over RATE_WINDOW_S.
        self._arrived: deque[tuple[float, int, bool]] = deque()
        # (reported at, lost) over RATE_WINDOW_S.
        self._outcomes: deque[tuple[float, bool]] = deque()
        self._newest_arrival = float("-inf")
        self.last_feedback_at: float | None = None

    def add(self, packets: Sequence[DeliveredPacket]) -> None:
        """One feedback's packets, in their numbering order."""
        now = self._clock()
        self.last_feedback_at = now
        for packet in packets:
            self._outcomes.append((now, packet.arrival is None))
            if packet.arrival is None:
                continue
            # The receiver's clock has its own origin and wraps (transport_cc's
            # ARRIVAL_PERIOD_S): only differences between delays mean anything.
            delay = (packet.arrival - packet.sent_at + _HALF_PERIOD_S) % ARRIVAL_PERIOD_S
            delay -= _HALF_PERIOD_S
            bucket = packet.sent_at - packet.sent_at % _BASE_BUCKET_S
            buckets = self._base_buckets
            if buckets and buckets[-1][0] == bucket:
                if delay < buckets[-1][1]:
                    buckets[-1] = (bucket, delay)
            elif not buckets or bucket > buckets[-1][0]:
                buckets.append((bucket, delay))
            self._queue.append((packet.sent_at, delay))
            wire = packet.size + PACKET_OVERHEAD_BYTES
            # Arrival on a clock that does not wrap: the server's, plus the delay.
            arrival = packet.sent_at + delay
            self._arrived.append((arrival, wire, packet.video))
            if arrival > self._newest_arrival:
                self._newest_arrival = arrival
        self._forget(now)

    def _forget(self, now: float) -> None:
        # Send times are on the copy sender's clock: windows over them end at the newest.
        newest = self._queue[-1][0] if self._queue else None
        if newest is not None:
            while self._base_buckets and self._base_buckets[0][0] < newest - BASE_WINDOW_S:
                self._base_buckets.popleft()
            while self._queue and self._queue[0][0] < newest - QUEUE_WINDOW_S:
                self._queue.popleft()
        # Arrivals (sent_at + delay) are on the sender's clock: the window ends at the newest.
        while self._arrived and self._arrived[0][0] < self._newest_arrival - RATE_WINDOW_S:
            self._arrived.popleft()
        while self._outcomes and self._outcomes[0][0] < now - RATE_WINDOW_S:
            self._outcomes.popleft()

    def fresh(self) -> bool:
        at = self.last_feedback_at
        return at is not None and self._clock() - at <= FEEDBACK_FRESH_S

    def queue_delay_s(self) -> float | None:
        """The least queueing delay of the packets sent over the last QUEUE_WINDOW_S."""
        if not self._queue or not self._base_buckets:
            return None
        base = min(delay for _, delay in self._base_buckets)
        return max(min(delay for _, delay in self._queue) - base, 0.0)

    def delivered_bps(self) -> tuple[float, float]:
        """(everything, video) that arrived per second over RATE_WINDOW_S, as on the wire."""
        self._forget(self._clock())
        total = sum(size for _, size, _ in self._arrived) * 8 / RATE_WINDOW_S
        video = sum(size for _, size, video in self._arrived if video) * 8 / RATE_WINDOW_S
        return total, video

    def loss(self) -> float | None:
        """The share of packets reported lost over RATE_WINDOW_S (None: none reported)."""
        if not self._outcomes:
            return None
        return sum(1 for _, lost in self._outcomes if lost) / len(self._outcomes)


class DownlinkEstimate:
    """What one subscriber reports about its downlink, and the budget it implies."""

    __slots__ = (
        "_below_before",
        "_cap",
        "_capacity",
        "_capacity_at",
        "_capped_at",
        "_clock",
        "_cut_at",
        "_grown_at",
        "_hold_s",
        "_released_at",
        "_remb",
        "_remb_at",
        "loss_only",
        "probing",
        "queue",
    )

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._remb: float | None = None
        self._remb_at: float | None = None
        self._cap: float | None = None
        self._capped_at: float | None = None
        # The budget is down for loss alone (the delay estimate shows no queue):
        # layers may go down, but no video is paused for it (NACKs repair loss).
        self.loss_only = False
        self._hold_s = HOLD_S
        self._released_at: float | None = None
        # Reports say the link keeps up: no cap, layers go up a camera at a time.
        self.probing = False
        self._below_before = 0
        # Transport-wide feedback, where her browser sends it: it supersedes REMB.
        self.queue = QueueSignals(clock)
        self._cut_at = float("-inf")
        # The most a full link was seen to carry (everything, bits/s), and when.
        self._capacity: float | None = None
        self._capacity_at: float | None = None
        self._grown_at = 0.0

    def remb(self, bitrate_bps: float) -> None:
        """A REMB from the subscriber (its estimate of what it can receive)."""
        if bitrate_bps >= 0:
            self._remb = float(bitrate_bps)
            self._remb_at = self._clock()

    def estimate_bps(self) -> float | None:
        """What the link is known to carry (operators see it): with transport-wide
        feedback, the cap while one holds and what arrived per second otherwise; else
        the subscriber's latest fresh REMB, if any."""
        if self.queue.fresh():
            return self._cap if self._cap is not None else self.queue.delivered_bps()[0]
        if self._remb_at is None or self._clock() - self._remb_at > REMB_FRESH_S:
            return None
        return self._remb

    def budget(self, sending_bps: float, loss: float | None) -> float | None:
        """What may be sent from now on (bits per second), or None: no cap.

        ``sending_bps``: what the server sends the subscriber now; ``loss``:
        the fraction its receiver reports say is lost (None: no reports).
        Sets ``probing`` (no cap, but go up gradually) and ``loss_only``.
        """
        if self.queue.fresh():
            return self._queue_budget(sending_bps)
        now = self._clock()
        remb = self.estimate_bps()
        if remb is None and loss is None:
            self.probing = False
            return None
        lossy = loss is not None and loss >= CONGESTED_LOSS
        below = (
            remb is not None
            and sending_bps >= _MIN_MEANINGFUL_BPS
            and remb < CONGESTED_SHARE * sending_bps
        )
        # Once is noise (a keyframe in the rate, a late REMB); twice running, or far
        # below, is a full link.
        # A few rounds running (a keyframe's burst, a late REMB, a browser's estimate
        # ramping up are brief), or far below at once, is a full link.
        self._below_before = self._below_before + 1 if below else 0
        full = below and (
            self._below_before >= _ROUNDS_BELOW
            or (remb is not None and remb < _FAR_BELOW * sending_bps)
        )
        if lossy or full:
            if self._capped_at is None:
                # Congested again soon after a hold ended: the step up failed, wait longer.
                recent = self._released_at is not None and now - self._released_at < self._hold_s
                self._hold_s = min(self._hold_s * 2, MAX_HOLD_S) if recent else HOLD_S
            self.loss_only = not full
            cap = remb if remb is not None and full else sending_bps
            if lossy and loss is not None:
                cap = min(cap, sending_bps * (1 - loss / 2))
            self._cap = cap
            self._capped_at = now
            self.probing = False
            return cap
        if self._capped_at is not None and self._cap is not None:
            if now - self._capped_at < self._hold_s:
                return self._cap  # loss_only stays as it was when the cap was set
            self._released_at = now
        self._cap = None
        self._capped_at = None
        self.loss_only = False
        self.probing = True
        return None

    def _queue_budget(self, video_sending_bps: float) -> float | None:
        """The budget for video from transport-wide feedback (see the module's doc)."""
        now = self._clock()
        queue = self.queue
        delay = queue.queue_delay_s()
        loss = queue.loss()
        total, video = queue.delivered_bps()
        lossy = loss is not None and loss >= CONGESTED_LOSS
        full = delay is not None and delay >= QUEUE_FULL_S
        if lossy or full:
            if self._capped_at is None:
                recent = self._released_at is not None and now - self._released_at < self._hold_s
                self._hold_s = min(self._hold_s * 2, MAX_HOLD_S) if recent else HOLD_S
            self.loss_only = not full
            if full:
                # A standing queue: what arrives per second is what the link carries.
                if self._capacity is None or self._capacity_at is None or total > self._capacity:
                    self._capacity = total
                self._capacity_at = self._grown_at = now
            # Audio (and what else is not video) keeps its share, video gets the rest
            # of the most the link was seen to carry, less the drain. (What arrived
            # over the last second alone may include time before the link filled.)
            carried = total if self._capacity is None else max(self._capacity, total)
            cap = max(DRAIN_SHARE * carried - (total - video), 0.0)
            if lossy and loss is not None and not full:
                cap = max(cap, video_sending_bps * (1 - loss / 2))
            # Delay and loss are measured over the last second: after a cut they still
            # show the excess before it, so the cap comes down again only once that
            # has passed (else each round would shave it).
            if self._cap is None or (cap < self._cap and now - self._cut_at >= SETTLE_S):
                self._cap = cap
                self._cut_at = now
            self._capped_at = now
            self.probing = False
            return self._cap
        if self._capped_at is not None and self._cap is not None:
            clear = delay is None or delay < QUEUE_CLEAR_S
            if now - self._capped_at < self._hold_s or not clear:
                return self._cap
            self._released_at = now
        self._cap = None
        self._capped_at = None
        self.loss_only = False
        # A little queue, not yet full: hold what is sent, go up only once it is gone.
        if delay is not None and delay >= QUEUE_CLEAR_S:
            self.probing = False
            return max(video_sending_bps, 0.0)
        self.probing = True
        # Up a camera at a time; on a link seen full lately, only as far as it carried
        # then (a step past it would fill the queue again before feedback showed it).
        # While the queue stays clear, that bound grows (as GCC's rate does, 8 % a
        # second), so a link that widened is found again without waiting for it to
        # be forgotten.
        capacity = self._capacity
        if capacity is not None and self._capacity_at is not None:
            if now - self._capacity_at <= CAPACITY_MEMORY_S:
                grown = capacity * float(CAPACITY_GROWTH_PER_S ** max(now - self._grown_at, 0.0))
                self._capacity = grown
                self._grown_at = now
                return max(DRAIN_SHARE * grown - (total - video), video_sending_bps)
            self._capacity = None
        return None
