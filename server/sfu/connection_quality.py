"""Connection quality per participant, measured from what the server sends and receives.

Figures cover the last few seconds. Counters only grow, so a figure is the
difference between the newest and the oldest sample in the window. Samples
are taken when someone asks (monitoring polls about once a second); until a
second sample exists the window starts when the participant's media did.

- *up* (publisher -> server) comes from the server's own receive statistics
  of the participant's published tracks: sequence numbers expected and
  received on each media SSRC, before any retransmission fills a gap, and the
  RFC 3550 interarrival jitter.
- *down* (server -> subscriber) comes from the subscriber's receiver reports
  about each slot: cumulative packets lost and extended highest sequence
  number, and the RTT aiortc derives from them (LSR/DLSR).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from server.sfu.reports import ReceiverReport

# How far back the figures look.
WINDOW_S = 5.0
# Queries closer together than this share a sample.
MIN_SAMPLE_GAP_S = 0.5


@dataclass(frozen=True, slots=True)
class ConnectionQuality:
    """One participant's connections to the server, over the last few seconds.

    ``up`` is publisher -> server (their camera and microphone); ``down`` is
    server -> subscriber (everyone else's media reaching them). None: not known
    yet (no report received).
    """

    rtt_ms: float | None
    jitter_ms: float | None
    loss_up_pct: float | None
    loss_down_pct: float | None
    bitrate_up_kbps: float
    bitrate_down_kbps: float
    candidate_type: str | None  # "host", "srflx", "prflx" or "relay"
    # Their publish connection went over its packet or byte budget lately.
    media_budget_exceeded: bool = False
    # Simulcast (issue 17): how many cameras they receive at each layer ("single":
    # publishers that send one layer), how many are paused and why, the layers of
    # their own camera currently wanted, and their downlink estimate (REMB).
    video_layers_received: dict[str, int] = field(
        default_factory=lambda: {"q": 0, "h": 0, "f": 0, "single": 0}
    )
    videos_paused: dict[str, int] = field(default_factory=lambda: {"hidden": 0, "bandwidth": 0})
    layers_published: list[str] = field(default_factory=list)
    downlink_estimate_kbps: float | None = None


@dataclass(frozen=True, slots=True)
class TrafficSample:
    """Counters of one participant's media at one moment."""

    at: float
    bytes_up: int
    bytes_down: int
    # Per published media SSRC: (packets expected, packets received).
    up_counts: dict[int, tuple[int, int]]


class TrafficWindow:
    """The samples of one participant over the last ``WINDOW_S`` seconds."""

    def __init__(self, started_at: float) -> None:
        self._samples: deque[TrafficSample] = deque()
        self._baseline = TrafficSample(started_at, 0, 0, {})

    def add(self, sample: TrafficSample) -> TrafficSample:
        """Record ``sample``; return the sample to measure it against."""
        samples = self._samples
        if samples and sample.at - samples[-1].at < MIN_SAMPLE_GAP_S:
            samples[-1] = sample
        else:
            samples.append(sample)
        while len(samples) > 1 and sample.at - samples[1].at >= WINDOW_S:
            samples.popleft()
        oldest = samples[0]
        return self._baseline if oldest is sample else oldest


def loss_pct(pairs: Iterable[tuple[int, int]]) -> float | None:
    """Percentage lost from (expected, lost) pairs; None when nothing was expected."""
    expected = lost = 0
    for e, lost_count in pairs:
        expected += e
        lost += lost_count
    if expected <= 0:
        return None
    return 100.0 * max(lost, 0) / expected


def up_loss(now: TrafficSample, then: TrafficSample) -> float | None:
    pairs = []
    for ssrc, (expected, received) in now.up_counts.items():
        before_expected, before_received = then.up_counts.get(ssrc, (0, 0))
        delta_expected = expected - before_expected
        pairs.append((delta_expected, delta_expected - (received - before_received)))
    return loss_pct(pairs)


def kbps(byte_count: int, seconds: float) -> float:
    return 0.0 if seconds <= 0 else byte_count * 8 / seconds / 1000


class ReportHistory:
    """A subscriber's receiver reports about one slot over the last ``WINDOW_S`` seconds."""

    __slots__ = ("_clock", "_reports")

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._reports: deque[tuple[float, ReceiverReport]] = deque()

    def add(self, report: ReceiverReport) -> None:
        now = self._clock()
        self._reports.append((now, report))
        while len(self._reports) > 1 and now - self._reports[1][0] >= WINDOW_S:
            self._reports.popleft()

    def latest(self) -> ReceiverReport | None:
        return self._reports[-1][1] if self._reports else None

    def expected_and_lost(self) -> tuple[int, int] | None:
        """Packets expected and lost between the oldest and newest report in the window.

        With a single report: its own fraction lost, scaled to 256 packets.
        """
        if not self._reports:
            return None
        newest = self._reports[-1][1]
        oldest = self._reports[0][1]
        if oldest is newest:
            return (256, newest.fraction_lost)
        return (
            newest.highest_sequence - oldest.highest_sequence,
            newest.packets_lost - oldest.packets_lost,
        )
