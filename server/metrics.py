"""Prometheus metrics, in a registry of the application's own (no process globals).

Labels carry event names, error codes, roles, states and directions: never ids
or names. Room and participant counts and the media plane's counters are read
at scrape time, so they cannot drift from the truth.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from rooms import ParticipantState, Role, RoomStore
from server.monitoring.rating import QualitySource


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)  # process_cpu_seconds_total, memory, fds
        self.signaling_messages = Counter(
            "groupsession_signaling_messages",
            "Socket.IO messages handled, by event and error code (empty: ok)",
            ["event", "error_code"],
            registry=self.registry,
        )
        self.delivery_problems = Counter(
            "groupsession_signaling_delivery_problems",
            "Failures the rooms carried on without: an emit to one connection, a media close",
            ["kind"],
            registry=self.registry,
        )
        self.join_duration = Histogram(
            "groupsession_join_duration_seconds",
            "From a Socket.IO connection to its accepted join",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.round_trip_time = Histogram(
            "groupsession_round_trip_time_seconds",
            "Media round-trip times, one observation per connected participant per second",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.4, 0.6, 1, 2),
            registry=self.registry,
        )
        self.packet_loss = Gauge(
            "groupsession_packet_loss_ratio",
            "Media packet loss across participants (up: to the server; down: from it)",
            ["direction", "aggregate"],
            registry=self.registry,
        )
        self.event_loop_lag = Gauge(
            "groupsession_event_loop_lag_seconds",
            "Worst lateness of the event loop over the last second",
            registry=self.registry,
        )

    def watch(self, store: RoomStore, media: QualitySource | None) -> None:
        self.registry.register(_LiveCollector(store, media))


class _LiveCollector(Collector):
    def __init__(self, store: RoomStore, media: QualitySource | None) -> None:
        self._store = store
        self._media = media

    def collect(self) -> Iterable[Metric]:
        return list(self._metrics())

    def describe(self) -> Iterable[Metric]:
        return []

    def _metrics(self) -> Iterator[Metric]:
        live = [room for room in self._store if not room.ended]
        yield GaugeMetricFamily("groupsession_rooms", "Rooms with a session running", len(live))
        people = GaugeMetricFamily(
            "groupsession_participants", "Participants by role and state", labels=["role", "state"]
        )
        for role in Role:
            for state in (ParticipantState.WAITING, ParticipantState.ADMITTED):
                count = sum(
                    1
                    for room in live
                    for p in (
                        room.waiting() if state is ParticipantState.WAITING else room.admitted()
                    )
                    if p.role is role
                )
                people.add_metric([role.value, state.label], count)
        yield people
        if self._media is None:
            return
        totals = self._media.forwarding_totals()
        yield CounterMetricFamily(
            "groupsession_received_packets",
            "RTP packets received from publishers",
            totals.packets_in,
        )
        yield CounterMetricFamily(
            "groupsession_forwarded_packets",
            "RTP packets forwarded to subscribers",
            totals.packets_out,
        )
        yield CounterMetricFamily(
            "groupsession_forwarded_bytes", "RTP bytes forwarded to subscribers", totals.bytes_out
        )
        yield CounterMetricFamily(
            "groupsession_muted_packets_dropped",
            "RTP packets dropped because the room's mute model forbade forwarding them",
            totals.packets_dropped_by_mute,
        )
        yield CounterMetricFamily(
            "groupsession_forward_copies_failed",
            "Copies of forwarded packets that SRTP refused to protect for a subscriber",
            totals.copies_failed,
        )
        yield CounterMetricFamily(
            "groupsession_rtcp_dropped",
            "Received RTCP packets dropped because their lengths lie or handling them failed",
            totals.rtcp_dropped,
        )
        yield CounterMetricFamily(
            "groupsession_rtcp_send_failed",
            "RTCP packets or report rounds the server could not build or send (RR, NACK, PLI)",
            totals.rtcp_send_failed,
        )
        yield CounterMetricFamily(
            "groupsession_peer_connection_closes_forced",
            "Server peer connections whose close outlasted its bound and was finished by force",
            totals.closes_forced,
        )
        yield CounterMetricFamily(
            "groupsession_oversize_copies_dropped",
            "Copies of forwarded packets dropped: rewritten, they would exceed the MTU",
            totals.oversize_dropped,
        )
        dropped = CounterMetricFamily(
            "groupsession_media_datagrams_dropped",
            "Datagrams and packets the media ports dropped before forwarding, by reason",
            labels=["reason"],
        )
        for reason, count in sorted(totals.datagrams_dropped.items()):
            dropped.add_metric([reason], count)
        yield dropped
        forwards = GaugeMetricFamily(
            "groupsession_video_layer_forwards",
            "Cameras forwarded now, by simulcast layer (single: publishers of one layer)",
            labels=["layer"],
        )
        for layer, count in sorted(totals.video_layer_forwards.items()):
            forwards.add_metric([layer], count)
        yield forwards
        paused = GaugeMetricFamily(
            "groupsession_videos_paused",
            "Cameras a subscriber may receive but is not sent now, by reason",
            labels=["reason"],
        )
        for reason, count in sorted(totals.videos_paused.items()):
            paused.add_metric([reason], count)
        yield paused
        yield CounterMetricFamily(
            "groupsession_layer_switches",
            "Subscriber legs moved from one simulcast layer to another",
            totals.layer_switches,
        )
        yield GaugeMetricFamily(
            "groupsession_consumers",
            "Forwarded tracks (publisher track x subscriber)",
            totals.consumers,
        )
