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
"""

from __future__ import annotations

from collections.abc import Callable

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


class DownlinkEstimate:
    """What one subscriber reports about its downlink, and the budget it implies."""

    __slots__ = (
        "_below_before",
        "_cap",
        "_capped_at",
        "_clock",
        "_hold_s",
        "_released_at",
        "_remb",
        "_remb_at",
        "loss_only",
        "probing",
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
        """What may be sent from now on (bits per second), or None: no cap.

        ``sending_bps``: what the server sends the subscriber now; ``loss``:
        the fraction its receiver reports say is lost (None: no reports).
        Sets ``probing`` (no cap, but go up gradually) and ``loss_only``.
        """
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
