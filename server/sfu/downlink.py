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
REMB near 1.5x the incoming rate), so it shows congestion rather than
capacity: when the estimate falls below what is being sent, or loss passes
10 %, the budget comes down to it (and stays down for ``HOLD_S``); when it
does not, the budget is what is sent plus a step (``STEP_UP_SHARE`` of it, at
least ``MIN_STEP_BPS``), so layers go up a step at a time while the
estimate keeps up.
"""

from __future__ import annotations

from collections.abc import Callable

# A REMB older than this says nothing of now.
REMB_FRESH_S = 5.0
# Below this share of what is being sent, the estimate says the link is full.
CONGESTED_SHARE = 0.85
# Loss (fraction) at which the link counts as congested whatever REMB says.
CONGESTED_LOSS = 0.10
# After congestion, the budget is not raised for this long.
HOLD_S = 8.0
# Room to go up when the link keeps up: a share of the rate sent, at least this.
STEP_UP_SHARE = 0.3
MIN_STEP_BPS = 400_000.0
# Sending less than this tells nothing about the link.
_MIN_MEANINGFUL_BPS = 100_000.0


class DownlinkEstimate:
    """What one subscriber reports about its downlink, and the budget it implies."""

    __slots__ = ("_cap", "_capped_at", "_clock", "_remb", "_remb_at", "loss_only")

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._remb: float | None = None
        self._remb_at: float | None = None
        self._cap: float | None = None
        self._capped_at: float | None = None
        # The budget is down for loss alone (the delay estimate shows no queue):
        # layers may go down, but no video is paused for it (NACKs repair loss).
        self.loss_only = False

    def remb(self, bitrate_bps: float) -> None:
        """A REMB from the subscriber (its estimate of what it can receive)."""
        if bitrate_bps >= 0:
            self._remb = float(bitrate_bps)
            self._remb_at = self._clock()

    def estimate_bps(self) -> float | None:
        """The subscriber's latest fresh REMB, if any (operators see it)."""
        if self._remb_at is None or self._clock() - self._remb_at > REMB_FRESH_S:
            return None
        return self._remb

    def budget(self, sending_bps: float, loss: float | None) -> float | None:
        """What may be sent from now on (bits per second), or None: no limit known.

        ``sending_bps``: what the server sends the subscriber now; ``loss``:
        the fraction its receiver reports say is lost (None: no reports).
        """
        now = self._clock()
        remb = self.estimate_bps()
        if remb is None and loss is None:
            return None
        lossy = loss is not None and loss >= CONGESTED_LOSS
        full = (
            remb is not None
            and sending_bps >= _MIN_MEANINGFUL_BPS
            and remb < CONGESTED_SHARE * sending_bps
        )
        if lossy or full:
            self.loss_only = not full
            cap = remb if remb is not None and full else sending_bps
            if lossy and loss is not None:
                cap = min(cap, sending_bps * (1 - loss / 2))
            self._cap = cap
            self._capped_at = now
            return self._cap
        if self._capped_at is not None and now - self._capped_at < HOLD_S and self._cap is not None:
            # loss_only stays as it was when the cap was set.
            return max(self._cap, min(remb or 0.0, sending_bps))
        self._cap = None
        self._capped_at = None
        self.loss_only = False
        base = max(remb or 0.0, sending_bps)
        return base + max(STEP_UP_SHARE * sending_bps, MIN_STEP_BPS)
