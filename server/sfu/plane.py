"""The RTP-forwarding media plane: what signaling drives (signaling.media.MediaPlane)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.exceptions import InternalError, InvalidStateError, OperationError

from server.sfu import aiortc_internals as internals
from server.sfu.codecs import FORWARDED_MIME_TYPES, is_forwardable, is_rtx
from server.sfu.connection_quality import (
    ConnectionQuality,
    TrafficSample,
    TrafficWindow,
    kbps,
    loss_pct,
    up_loss,
)
from server.sfu.forwarding_stats import ForwardingStats, ForwardingTotals
from server.sfu.ingress import DropReason, PublishBudget, RateLimitedLog
from server.sfu.keyframes import DEFAULT_MIN_KEYFRAME_INTERVAL_S
from server.sfu.layer_choice import UP_HEADROOM, LayerOption, VideoSource, choose
from server.sfu.legs import ForwardingLeg, SubscriberSlot
from server.sfu.published_track import PublishedTrack
from server.sfu.sdp_checks import check_port, parse_usable
from server.sfu.simulcast_sdp import SimulcastSection, complete_answer, offered_simulcast
from server.sfu.speaking import SpeakingDetector, SpeakingThresholds
from server.sfu.subscription import DEFAULT_ANSWER_TIMEOUT_S, Subscription
from server.sfu.teardown import close_connection
from signaling.media import (
    SIMULCAST_RIDS,
    ConnectionProblem,
    ForwardingPermission,
    IceCandidate,
    InvalidSessionDescription,
    Leg,
    MediaError,
    MediaNotReady,
    MediaSignals,
    ReceivedVideo,
    SessionDescription,
    TileView,
    TrackKind,
)
from signaling.pseudonyms import EphemeralPseudonyms, LogPseudonyms

logger = logging.getLogger(__name__)

# How long after a publish found every media port taken /readyz says so (unless a
# publish gets its ports first): long enough for a load balancer to notice.
PORTS_FULL_REPORTED_S = 30.0

_SDP_ERRORS = (ValueError, InvalidStateError, OperationError, InternalError)
_RECEIVING = ("recvonly", "sendrecv")
# A facilitator hears of a participant's media problem at most this often.
_PROBLEM_REPEAT_S = 30.0
# How long after its last excess a publish connection still shows as over
# budget to operators (monitoring samples once a second).
_BUDGET_ALERT_HOLD_S = 10.0
# How often each subscriber's layers are chosen again (and dynacast reviewed).
ADAPT_INTERVAL_S = 0.5
# A simulcast layer nobody wants is paused at the publisher after this long.
DEFAULT_LAYER_OFF_AFTER_S = 5.0
# At most this many tiles of a view, and priority ids of a room, are kept.
_MAX_TILES = 64
_MAX_PRIORITY_IDS = 64


@dataclass(eq=False)
class ParticipantMedia:
    """One participant's media: their publish connection, tracks and subscription."""

    participant_id: str
    # How log lines name them: a pseudonym, never their id (part of their join link).
    log_name: str
    permission: ForwardingPermission
    speaking: SpeakingDetector
    publish_pc: RTCPeerConnection | None = None
    # Every transceiver of the publish connection, by mid; only those the
    # client currently sends on are announced (forwarded to subscribers).
    tracks: dict[str, PublishedTrack] = field(default_factory=dict)
    announced: set[str] = field(default_factory=set)
    subscription: Subscription | None = None
    traffic: TrafficWindow | None = None
    # The publish connection's packets and bytes per second.
    budget: PublishBudget | None = None
    problem_told_at: float | None = None
    # Packets the receive path refused: logged once a minute at most.
    refusals: RateLimitedLog | None = None
    # How she shows others' cameras (report_view), by publisher; None: never reported.
    view: dict[str, TileView] | None = None
    # The last video_forwarding picture she was told (None: none yet).
    told_videos: tuple[ReceivedVideo, ...] | None = None

    def announced_tracks(self) -> list[PublishedTrack]:
        return [self.tracks[mid] for mid in self.announced]


class RtpForwardingMediaPlane:
    """Forwards every participant's audio and video to the rest of the room at the RTP level.

    Nothing is decoded or encoded: each received RTP packet is rewritten per
    subscriber leg and sent on at once. See docs/media-plane.md. It is also
    monitoring's ``server.monitoring.rating.QualitySource``.
    """

    def __init__(
        self,
        *,
        ice_servers: Sequence[RTCIceServer] = (),
        clock: Callable[[], float] = time.monotonic,
        keyframe_interval_s: float = DEFAULT_MIN_KEYFRAME_INTERVAL_S,
        speaking: SpeakingThresholds | None = None,
        answer_timeout_s: float = DEFAULT_ANSWER_TIMEOUT_S,
        pseudonyms: LogPseudonyms | None = None,
        ice_policy: internals.IcePolicy | None = None,
        layer_off_after_s: float = DEFAULT_LAYER_OFF_AFTER_S,
    ) -> None:
        """
        :param ice_servers: STUN/TURN servers for the server's candidates. Empty
            (the default) means host candidates only, and no lookups to aiortc's
            default public STUN server.
        :param clock: monotonic seconds, for speaking hysteresis and keyframe pacing.
        :param keyframe_interval_s: at most one PLI per publisher per interval.
        :param speaking: thresholds for speaking detection.
        :param answer_timeout_s: a subscribe offer unanswered this long is replaced
            by a new one (see ``Subscription``).
        :param pseudonyms: how log lines name participants (the operators'
            pseudonyms, as signaling's logs do); a process-lived key without them.
        :param ice_policy: the announced address and port range of the server's
            host candidates, and how long to wait for the checks of a browser
            whose candidates give no pair (mDNS names, none). See docs/media-plane.md.
        :param layer_off_after_s: a simulcast layer nobody wants is paused at its
            publisher after this long (dynacast).
        """
        self._ice_policy = ice_policy or internals.IcePolicy()
        self._answer_timeout_s = answer_timeout_s
        self._ice_servers = list(ice_servers)
        self._clock = clock
        self._keyframe_interval_s = keyframe_interval_s
        self._speaking_thresholds = speaking or SpeakingThresholds()
        self._signals: MediaSignals | None = None
        self._rooms: dict[str, dict[str, ParticipantMedia]] = {}
        # Per room, the side room of each participant in one (absent: the main room).
        self._places: dict[str, dict[str, str]] = {}
        self.stats = ForwardingStats()
        self._pseudonyms = pseudonyms or EphemeralPseudonyms()
        # When a publish last found the media port range full (None: not since the last
        # publish that got its ports); /readyz reports it while it is recent.
        self._ports_full_at: float | None = None
        # Peer connections that failed or closed under us (each reported to signaling).
        self.media_failures = 0
        # Per room: whose video is paused last (set_video_priority), and who spoke last.
        self._priority: dict[str, frozenset[str]] = {}
        self._speaker: dict[str, str] = {}
        self._layer_off_after_s = layer_off_after_s
        self._adapting: asyncio.Task[None] | None = None

    # -- MediaPlane ---------------------------------------------------------

    def attach(self, signals: MediaSignals) -> None:
        self._signals = signals

    async def publish(
        self,
        room_id: str,
        participant_id: str,
        offer: SessionDescription,
        *,
        screen_mid: str | None = None,
    ) -> SessionDescription:
        _check_publish_offer(offer, screen_mid)
        was_known = self._existing_participant(room_id, participant_id) is not None
        participant = self._participant(room_id, participant_id)
        pc = participant.publish_pc
        is_new = pc is None
        if pc is None:
            pc = RTCPeerConnection(RTCConfiguration(iceServers=self._ice_servers))
            internals.install_ice_policy(pc, self._ice_policy)
        offered = offered_simulcast(offer.sdp, skip_mid=screen_mid)
        # A section keeps what it was first negotiated as: a camera that was not
        # simulcast is not made one later, nor a screen ever.
        answered: dict[str, SimulcastSection] = {}
        for mid, section in offered.items():
            known = participant.tracks.get(mid)
            if known is None or (known.simulcast and known.layer_rids() == section.rids):
                answered[mid] = section
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
            for transceiver in pc.getTransceivers():
                internals.guard_received_rtcp(transceiver.receiver.transport, self.stats)
                # Each offer renegotiates every section, so restrict them all again.
                internals.restrict_negotiated_codecs(
                    transceiver, partial(is_forwardable, TrackKind(transceiver.kind))
                )
                accepted = answered.get(transceiver.mid or "")
                if accepted is not None:
                    internals.accept_simulcast(transceiver, accepted.extension_ids)
                # Hook receivers before the answer: aiortc starts them once it is set.
                screen = screen_mid is not None and transceiver.mid == screen_mid
                self._adopt_transceiver(
                    room_id,
                    participant,
                    transceiver,
                    screen=screen,
                    rids=accepted.rids if accepted is not None else (),
                )
            await pc.setLocalDescription(await pc.createAnswer())
            # Its sockets exist once gathered: from here every datagram is checked.
            internals.guard_media_ports(
                pc,
                self.stats.drops,
                budget=participant.budget,
                on_refused=partial(self._refused, room_id, participant),
            )
        except Exception as exc:
            # Past our parse, aiortc still fails on offers it cannot use in ways of its
            # own (AttributeError on a section it left without a transport...): the
            # offer is refused as invalid_sdp; the type is logged in case it is ours.
            if not isinstance(exc, _SDP_ERRORS):
                logger.info("publish offer failed in negotiation: %s", _why(exc))
            if is_new:
                await self._close_tracks_of(participant)
                await self._close_publish_pc(participant, pc)
                if not was_known:
                    self._forget(room_id, participant)
            if isinstance(exc, internals.NoFreeMediaPort):
                self._ports_full_at = self._clock()
                logger.warning("publish refused: %s", exc)
                raise MediaError("the server has no free media port; try again later") from exc
            raise InvalidSessionDescription(f"publish offer rejected: {exc}") from exc
        if self._existing_participant(room_id, participant_id) is not participant:
            # Removed while the offer was being answered.
            await self._close_participant(participant)
            await self._close_publish_pc(participant, pc)
            raise MediaNotReady(f"{participant_id} left room {room_id} while publishing")
        participant.publish_pc = pc
        self._ports_full_at = None  # a connection got its ports: the range has room again
        if is_new:
            self._watch(room_id, participant, pc)
        self._announce_changes(room_id, participant)
        local = pc.localDescription
        # aiortc writes no a=rid / a=simulcast: the answer says which layers are received.
        return SessionDescription(sdp=complete_answer(local.sdp, answered), type=local.type)

    async def subscribe(self, room_id: str, participant_id: str) -> None:
        participant = self._participant(room_id, participant_id)
        if participant.subscription is not None:
            return
        if self._adapting is None or self._adapting.done():
            self._adapting = asyncio.get_running_loop().create_task(self._adapt_forever())
        pc = RTCPeerConnection(
            RTCConfiguration(iceServers=self._ice_servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        internals.install_ice_policy(pc, self._ice_policy)
        participant.subscription = Subscription(
            room_id,
            participant_id,
            pc,
            self._require_signals,
            self._clock,
            answer_timeout_s=self._answer_timeout_s,
            stats=self.stats,
            log_name=participant.log_name,
            budget=participant.budget,
        )
        self._watch(room_id, participant, pc)
        for other in self._rooms.get(room_id, {}).values():
            if other is not participant and self._same_place(room_id, other, participant):
                for track in other.announced_tracks():
                    self._connect_leg(track, participant)

    async def accept_subscriber_answer(
        self, room_id: str, participant_id: str, answer: SessionDescription, revision: int
    ) -> None:
        participant = self._existing_participant(room_id, participant_id)
        if participant is None or participant.subscription is None:
            raise MediaNotReady(f"{participant_id} has no subscribe connection in room {room_id}")
        await participant.subscription.accept_answer(answer, revision)

    async def add_ice_candidate(
        self, room_id: str, participant_id: str, leg: Leg, candidate: IceCandidate
    ) -> None:
        participant = self._existing_participant(room_id, participant_id)
        pc: RTCPeerConnection | None = None
        if participant is not None:
            if leg is Leg.PUBLISH:
                pc = participant.publish_pc
            elif participant.subscription is not None:
                pc = participant.subscription.pc
        if pc is None:
            raise MediaNotReady(f"{participant_id} has no {leg.value} connection in room {room_id}")
        if not candidate.candidate:
            await pc.addIceCandidate(None)  # end of candidates
            return
        if candidate.sdp_mid is None and candidate.sdp_mline_index is None:
            raise InvalidSessionDescription("ICE candidate names neither sdpMid nor sdpMLineIndex")
        try:
            parsed = internals.parse_ice_candidate(
                candidate.candidate, candidate.sdp_mid, candidate.sdp_mline_index
            )
            check_port(parsed.port)
        except (ValueError, IndexError) as exc:
            raise InvalidSessionDescription(f"malformed ICE candidate: {exc}") from exc
        await pc.addIceCandidate(parsed)

    def set_forwarding(
        self, room_id: str, participant_id: str, permission: ForwardingPermission
    ) -> None:
        participant = self._participant(room_id, participant_id)
        participant.permission = permission
        for track in participant.tracks.values():
            track.set_allowed(_allowed(permission, track))
        if not permission.audio and participant.speaking.reset() is False:
            self._report_speaking(room_id, participant_id, False)

    def set_places(self, room_id: str, places: Mapping[str, str]) -> None:
        """Forward only within each place: legs between places are withdrawn (the
        subscriber is offered again without them), legs within one are connected."""
        self._places[room_id] = dict(places)
        room = self._rooms.get(room_id, {})
        for publisher in room.values():
            for track in publisher.announced_tracks():
                for subscriber in room.values():
                    if subscriber is publisher or subscriber.subscription is None:
                        continue
                    together = self._same_place(room_id, publisher, subscriber)
                    connected = subscriber.participant_id in track.legs
                    if together and not connected:
                        self._connect_leg(track, subscriber)
                    elif connected and not together:
                        leg = track.remove_leg(subscriber.participant_id)
                        if leg is not None:
                            subscriber.subscription.release(leg)

    async def remove_participant(self, room_id: str, participant_id: str) -> None:
        room = self._rooms.get(room_id)
        participant = None if room is None else room.pop(participant_id, None)
        if room is None or participant is None:
            return
        for mid in list(participant.announced):
            self._withdraw(room_id, participant, mid)
        for other in room.values():
            for track in other.tracks.values():
                track.remove_leg(participant_id)
        if not room:
            del self._rooms[room_id]
        await self._close_participant(participant)

    async def close_room(self, room_id: str) -> None:
        self._places.pop(room_id, None)
        room = self._rooms.pop(room_id, None)
        if room is None:
            return
        participants = list(room.values())
        for participant in participants:
            participant.announced.clear()
            for track in participant.tracks.values():
                track.close()
        await asyncio.gather(*(self._close_participant(p) for p in participants))

    async def close(self) -> None:
        if self._adapting is not None:
            self._adapting.cancel()
        await asyncio.gather(*(self.close_room(room_id) for room_id in list(self._rooms)))

    def set_video_priority(self, room_id: str, participant_ids: Sequence[str]) -> None:
        if room_id not in self._rooms:
            return  # no media in the room yet: signaling calls again on join
        self._priority[room_id] = frozenset(list(participant_ids)[:_MAX_PRIORITY_IDS])

    def set_view(self, room_id: str, participant_id: str, tiles: Sequence[TileView]) -> None:
        participant = self._existing_participant(room_id, participant_id)
        if participant is None:
            return
        room = self._rooms[room_id]
        participant.view = {
            tile.participant_id: tile
            for tile in list(tiles)[:_MAX_TILES]
            if tile.participant_id in room and tile.participant_id != participant_id
        }
        # A tile hidden or shown takes effect now, not at the next round; so does a
        # layer it wants that its publisher was asked to pause.
        now = self._clock()
        self._adapt_subscriber(room_id, participant, now)
        for publisher in room.values():
            self._dynacast(room_id, publisher, now)
        # Again, now that a paused layer it wants is asked for: the leg waits for that
        # layer's first keyframe rather than for the next round.
        self._adapt_subscriber(room_id, participant, now)

    # -- bandwidth adaptation (docs/media-plane.md, "Choosing layers") ----------

    async def _adapt_forever(self) -> None:
        while True:
            await asyncio.sleep(ADAPT_INTERVAL_S)
            try:
                self.adapt_now()
            except Exception:  # one bad round must not end adaptation for everyone
                logger.exception("choosing video layers failed")

    def adapt_now(self) -> None:
        """Choose every subscriber's layers again, and review what publishers are asked to send."""
        now = self._clock()
        for room_id, room in list(self._rooms.items()):
            participants = list(room.values())
            for participant in participants:
                for track in participant.tracks.values():
                    for layer in track.layers:
                        layer.measure(now)
            for participant in participants:
                self._adapt_subscriber(room_id, participant, now)
            for participant in participants:
                self._dynacast(room_id, participant, now)

    def _adapt_subscriber(self, room_id: str, subscriber: ParticipantMedia, now: float) -> None:
        subscription = subscriber.subscription
        if subscription is None:
            return
        room = self._rooms.get(room_id, {})
        cameras: dict[str, tuple[PublishedTrack, ForwardingLeg]] = {}
        # Audio and screens are never cut for bandwidth: budgeted first.
        audio_bps = screen_bps = 0.0
        for publisher in room.values():
            if publisher is subscriber:
                continue
            for track in publisher.announced_tracks():
                leg = track.legs.get(subscriber.participant_id)
                if leg is None:
                    continue
                if track.kind is TrackKind.AUDIO or track.screen:
                    rate = sum(layer.measure(now) for layer in track.layers)
                    if track.kind is TrackKind.AUDIO:
                        audio_bps += rate
                    else:
                        screen_bps += rate
                else:
                    cameras[publisher.participant_id] = (track, leg)
        if not cameras:
            return
        speaker = self._speaker.get(room_id)
        priority = self._priority.get(room_id, frozenset())
        view = subscriber.view
        sources = []
        for publisher_id, (track, leg) in cameras.items():
            sources.append(
                VideoSource(
                    participant_id=publisher_id,
                    layers=tuple(
                        LayerOption(
                            layer.rid,
                            layer.height,
                            layer.expected_bitrate(),
                            layer.live(now),
                            layer.temporal,
                        )
                        for layer in track.layers
                    ),
                    tile=None if view is None else view.get(publisher_id),
                    speaker=publisher_id == speaker,
                    priority=publisher_id in priority,
                    current=None if leg.current is None else leg.current.rid,
                    current_temporal=leg.max_temporal,
                    target=None if leg.target is None else leg.target.rid,
                )
            )
        downlink = subscription.downlink
        # REMB covers what carries abs-send-time: the video copies (audio has none on a
        # subscribe connection), so it is compared with, and caps, the video sent.
        # What the chosen layers send (their measured rates), not the bytes of the last
        # second: a keyframe after a switch is a burst, not a rate the link must carry.
        video_sending = sum(
            leg.current.expected_bitrate() for _, leg in cameras.values() if leg.current is not None
        ) + max(screen_bps, 0.0)
        budget = downlink.budget(video_sending, subscription.loss())
        video_budget = None if budget is None else budget - screen_bps
        if video_budget is not None and downlink.loss_only:
            # Loss without a queue: down to the lowest layers, but no pause (NACKs repair it).
            floor = sum(min(o.bitrate_bps for o in s.layers) for s in sources if s.layers)
            video_budget = max(video_budget, floor / (1 - UP_HEADROOM))
        videos = []
        raises = 1 if downlink.probing else None
        for choice in choose(sources, video_budget, raises):
            track, leg = cameras[choice.participant_id]
            if choice.paused is not None:
                leg.set_target(None)
            elif choice.layer is not None:
                target = track.layer(choice.layer)
                wanted = None if choice.wanted is None else track.layer(choice.wanted)
                if (
                    video_budget is None
                    and not downlink.probing
                    and wanted is not None
                    and target is not None
                    and wanted.index > target.index
                    and track.active.get(wanted.rid, False)
                    and leg.current is not None
                ):
                    # Uncapped, and the publisher was asked to send the layer the tile
                    # wants: wait for its first keyframe (the current one goes on meanwhile).
                    target = wanted
                leg.set_target(target, choice.temporal)
            elif leg.target is None:
                # Nothing is being sent now (muted, not started): wait on the lowest layer.
                leg.set_target(track.first_layer())
            if choice.wanted is not None:
                track.wanted_at[choice.wanted] = now
            # What is forwarded (or switched to) is wanted too: a layer the size asks
            # for may not be sent yet, and the one standing in for it must stay on.
            for layer in (leg.current, leg.target):
                if layer is not None:
                    track.wanted_at[layer.rid] = now
            # A climb goes one layer at a time: the layer above what is forwarded, on the
            # way to what the size asks for, must be sent too (else a thumbnail's q and a
            # big tile's f leave h paused, and the big tile can never leave q).
            if choice.wanted is not None and leg.current is not None:
                goal = track.layer(choice.wanted)
                if goal is not None and goal.index > leg.current.index + 1:
                    track.wanted_at[track.layers[leg.current.index + 1].rid] = now
            shown = leg.current or leg.target
            videos.append(
                ReceivedVideo(
                    choice.participant_id,
                    shown.rid if track.simulcast and shown is not None else None,
                    choice.paused,
                )
            )
        told = tuple(sorted(videos, key=lambda video: video.participant_id))
        if told != subscriber.told_videos and self._signals is not None:
            subscriber.told_videos = told
            self._signals.video_forwarding_changed(room_id, subscriber.participant_id, told)

    def _dynacast(self, room_id: str, publisher: ParticipantMedia, now: float) -> None:
        """Ask the publisher to send only the layers someone wants (the lowest always: a
        late joiner's first picture), turning one off only after it has been unwanted
        for a while and on at once, with a keyframe request."""
        for track in publisher.tracks.values():
            if not track.simulcast:
                continue
            active = {}
            for layer in track.layers:
                wanted_at = track.wanted_at.get(layer.rid)
                on = layer.index == 0 or (
                    wanted_at is not None and now - wanted_at < self._layer_off_after_s
                )
                active[layer.rid] = on
                if on and not track.active.get(layer.rid, True):
                    track.request_keyframe(layer)
            if active == track.active:
                continue
            track.active = active
            if self._signals is not None:
                self._signals.publish_layers_changed(
                    room_id,
                    publisher.participant_id,
                    {rid: active.get(rid, False) for rid in SIMULCAST_RIDS},
                )

    # -- QualitySource ---------------------------------------------------------

    def connection_quality(self, room_id: str, participant_id: str) -> ConnectionQuality | None:
        participant = self._existing_participant(room_id, participant_id)
        if participant is None or participant.traffic is None:
            return None
        subscription = participant.subscription
        pcs = [participant.publish_pc, subscription.pc if subscription is not None else None]
        if all(pc is None for pc in pcs):
            return None
        tracks = participant.announced_tracks()
        slots = subscription.slots if subscription is not None else []

        up_counts: dict[int, tuple[int, int]] = {}
        jitters_ms: list[float] = []
        for track in tracks:
            counts = track.receive_counts()
            if counts is not None and track.media_ssrc is not None:
                up_counts[track.media_ssrc] = (counts.expected, counts.received)
                jitters_ms.append(counts.jitter_s * 1000)
        now = TrafficSample(
            at=self._clock(),
            bytes_up=sum(track.bytes_received for track in participant.tracks.values()),
            bytes_down=sum(slot.output.bytes_sent for slot in slots if slot.output is not None),
            up_counts=up_counts,
        )
        then = participant.traffic.add(now)
        elapsed = now.at - then.at

        rtts_ms = [
            rtt * 1000
            for slot in slots
            if (rtt := internals.round_trip_time(slot.sender)) is not None and rtt >= 0
        ]
        down = [pair for slot in slots if (pair := slot.reports.expected_and_lost()) is not None]
        if not jitters_ms:  # not publishing: how steadily the others' media reaches them
            jitters_ms = [
                report.jitter * 1000 / (48000 if slot.kind is TrackKind.AUDIO else 90000)
                for slot in slots
                if (report := slot.reports.latest()) is not None
            ]
        candidate_types = next(
            (t for pc in pcs if pc is not None and (t := internals.selected_candidate_types(pc))),
            None,
        )
        layers_received = {"q": 0, "h": 0, "f": 0, "single": 0}
        paused = {"hidden": 0, "bandwidth": 0}
        for video in participant.told_videos or ():
            if video.paused is not None:
                paused[video.paused.value] = paused.get(video.paused.value, 0) + 1
        room = self._rooms.get(room_id, {})
        for other in room.values():
            for track in other.announced_tracks():
                leg = track.legs.get(participant_id)
                camera = track.kind is TrackKind.VIDEO and not track.screen
                if camera and leg is not None and leg.current is not None:
                    rid = leg.current.rid
                    layers_received[rid] = layers_received.get(rid, 0) + 1
        published = [
            rid for track in tracks if track.simulcast for rid, on in track.active.items() if on
        ]
        estimate = None if subscription is None else subscription.downlink.estimate_bps()
        return ConnectionQuality(
            video_layers_received=layers_received,
            videos_paused=paused,
            layers_published=published,
            downlink_estimate_kbps=None if estimate is None else estimate / 1000,
            rtt_ms=sum(rtts_ms) / len(rtts_ms) if rtts_ms else None,
            jitter_ms=max(jitters_ms) if jitters_ms else None,
            loss_up_pct=up_loss(now, then),
            loss_down_pct=loss_pct(down),
            bitrate_up_kbps=kbps(now.bytes_up - then.bytes_up, elapsed),
            bitrate_down_kbps=kbps(now.bytes_down - then.bytes_down, elapsed),
            candidate_type=_candidate_type(candidate_types),
            media_budget_exceeded=participant.budget is not None
            and participant.budget.exceeded_within(_BUDGET_ALERT_HOLD_S),
        )

    def health_problem(self) -> str | None:
        """What keeps this plane from serving new participants (server.readiness reads
        it for /readyz), or None: a publish found the media port range full lately."""
        full_at = self._ports_full_at
        if full_at is not None and self._clock() - full_at < PORTS_FULL_REPORTED_S:
            return "the media port range is full: new participants would get no media"
        return None

    def forwarding_totals(self) -> ForwardingTotals:
        stats = self.stats
        layers: dict[str, int] = {"q": 0, "h": 0, "f": 0, "single": 0}
        paused: dict[str, int] = {"hidden": 0, "bandwidth": 0}
        for room in self._rooms.values():
            for participant in room.values():
                for video in participant.told_videos or ():
                    if video.paused is not None:
                        paused[video.paused.value] = paused.get(video.paused.value, 0) + 1
                for track in participant.tracks.values():
                    if track.kind is not TrackKind.VIDEO or track.screen:
                        continue
                    for leg in track.legs.values():
                        if leg.current is not None:
                            layers[leg.current.rid] = layers.get(leg.current.rid, 0) + 1
        consumers = sum(
            1
            for room in self._rooms.values()
            for participant in room.values()
            for track in participant.tracks.values()
            for leg in track.legs.values()
            if leg.negotiated
        )
        return ForwardingTotals(
            packets_in=stats.packets_in,
            packets_out=stats.packets_out,
            bytes_out=stats.bytes_out,
            packets_dropped_by_mute=stats.packets_dropped_by_mute,
            consumers=consumers,
            copies_failed=stats.copies_failed,
            rtcp_dropped=stats.rtcp_dropped,
            rtcp_send_failed=stats.rtcp_send_failed,
            closes_forced=stats.closes_forced,
            oversize_dropped=stats.oversize_dropped,
            datagrams_dropped={reason.value: n for reason, n in stats.drops.counts.items()},
            video_layer_forwards=layers,
            videos_paused=paused,
            layer_switches=stats.layer_switches,
        )

    # -- diagnostics ----------------------------------------------------------

    def peer_connections(self) -> list[RTCPeerConnection]:
        """Every peer connection the server holds (for tests and diagnostics)."""
        pcs: list[RTCPeerConnection] = []
        for room in self._rooms.values():
            for participant in room.values():
                if participant.publish_pc is not None:
                    pcs.append(participant.publish_pc)
                if participant.subscription is not None:
                    pcs.append(participant.subscription.pc)
        return pcs

    def published_tracks(self, room_id: str, participant_id: str) -> list[PublishedTrack]:
        """The tracks a participant publishes (for tests and diagnostics)."""
        participant = self._existing_participant(room_id, participant_id)
        return [] if participant is None else list(participant.tracks.values())

    def ingress_counts(self) -> tuple[int, int]:
        """Media packets expected and received from every publisher so far (for benchmarks)."""
        expected = received = 0
        for room in self._rooms.values():
            for participant in room.values():
                for track in participant.tracks.values():
                    counts = track.receive_counts()
                    if counts is not None:
                        expected += counts.expected
                        received += counts.received
        return expected, received

    def bytes_sent_to(self, room_id: str) -> dict[str, int]:
        """RTP bytes forwarded so far to each subscriber of a room (for benchmarks)."""
        return {
            pid: participant.subscription.bytes_sent()
            for pid, participant in self._rooms.get(room_id, {}).items()
            if participant.subscription is not None
        }

    def room_ids(self) -> list[str]:
        return list(self._rooms)

    # -- internals ------------------------------------------------------------

    def _require_signals(self) -> MediaSignals:
        if self._signals is None:
            raise MediaError("the media plane has no signaling attached")
        return self._signals

    def _participant(self, room_id: str, participant_id: str) -> ParticipantMedia:
        room = self._rooms.setdefault(room_id, {})
        participant = room.get(participant_id)
        if participant is None:
            participant = ParticipantMedia(
                participant_id=participant_id,
                log_name=self._pseudonyms.participant(room_id, participant_id),
                permission=ForwardingPermission(audio=True, video=True),
                speaking=SpeakingDetector(self._clock, self._speaking_thresholds),
                traffic=TrafficWindow(self._clock()),
                refusals=RateLimitedLog(self._clock),
            )
            participant.budget = PublishBudget(
                self._clock, partial(self._over_budget, room_id, participant)
            )
            room[participant_id] = participant
        return participant

    def _forget(self, room_id: str, participant: ParticipantMedia) -> None:
        room = self._rooms.get(room_id)
        if room is not None and room.get(participant.participant_id) is participant:
            del room[participant.participant_id]
            if not room:
                del self._rooms[room_id]

    def _same_place(self, room_id: str, a: ParticipantMedia, b: ParticipantMedia) -> bool:
        places = self._places.get(room_id, {})
        return places.get(a.participant_id) == places.get(b.participant_id)

    def _existing_participant(self, room_id: str, participant_id: str) -> ParticipantMedia | None:
        return self._rooms.get(room_id, {}).get(participant_id)

    def _adopt_transceiver(
        self,
        room_id: str,
        participant: ParticipantMedia,
        transceiver: RTCRtpTransceiver,
        *,
        screen: bool = False,
        rids: tuple[str, ...] = (),
    ) -> None:
        mid: str | None = transceiver.mid
        if mid is None:
            return
        if mid in participant.tracks:
            if screen and not participant.tracks[mid].screen:
                # A camera is never relabelled a screen: it would escape the share rules.
                raise InvalidSessionDescription(f"section {mid!r} already carries a camera")
            return
        kind = TrackKind(transceiver.kind)
        participant_id = participant.participant_id

        def on_audio_level(level: int) -> None:
            changed = participant.speaking.observe(level)
            if changed is not None:
                self._report_speaking(room_id, participant_id, changed)

        track = PublishedTrack(
            participant_id,
            kind,
            transceiver.receiver,
            clock=self._clock,
            keyframe_interval_s=self._keyframe_interval_s,
            stats=self.stats,
            on_audio_level=on_audio_level,
            rids=() if screen else rids,
        )
        track.screen = screen
        track.set_allowed(_allowed(participant.permission, track))
        participant.tracks[mid] = track

    def _announce_changes(self, room_id: str, participant: ParticipantMedia) -> None:
        """Forward newly sent tracks to the room; stop forwarding tracks no longer sent."""
        assert participant.publish_pc is not None
        for transceiver in participant.publish_pc.getTransceivers():
            mid: str | None = transceiver.mid
            if mid is None or mid not in participant.tracks:
                continue
            receiving = transceiver.currentDirection in _RECEIVING
            if receiving and mid not in participant.announced:
                participant.announced.add(mid)
                track = participant.tracks[mid]
                for other in self._rooms.get(room_id, {}).values():
                    if (
                        other is not participant
                        and other.subscription is not None
                        and self._same_place(room_id, participant, other)
                    ):
                        self._connect_leg(track, other)
            elif not receiving and mid in participant.announced:
                self._withdraw(room_id, participant, mid)

    def _connect_leg(self, track: PublishedTrack, subscriber: ParticipantMedia) -> None:
        assert subscriber.subscription is not None
        if not subscriber.subscription.usable:
            # Her connection died under us (aiortc closes a connection whose DTLS
            # transports all closed): signaling was told and drops her; meanwhile her
            # dead connection must not fail everyone else's publish.
            return
        subscriber_id = subscriber.participant_id

        def new_leg(slot: SubscriberSlot) -> ForwardingLeg:
            return ForwardingLeg(track, subscriber_id, slot, self._count_switch)

        track.add_leg(subscriber.subscription.assign(new_leg, track.kind))

    def _withdraw(self, room_id: str, participant: ParticipantMedia, mid: str) -> None:
        participant.announced.discard(mid)
        track = participant.tracks[mid]
        room = self._rooms.get(room_id, {})
        for subscriber_id in list(track.legs):
            leg = track.remove_leg(subscriber_id)
            subscriber = room.get(subscriber_id)
            if leg is not None and subscriber is not None and subscriber.subscription is not None:
                subscriber.subscription.release(leg)

    async def _close_tracks_of(self, participant: ParticipantMedia) -> None:
        for track in participant.tracks.values():
            track.close()
        participant.tracks.clear()
        participant.announced.clear()

    async def _close_participant(self, participant: ParticipantMedia) -> None:
        await self._close_tracks_of(participant)
        closing = []
        if participant.subscription is not None:
            closing.append(participant.subscription.close())
        if participant.publish_pc is not None:
            closing.append(self._close_publish_pc(participant, participant.publish_pc))
        participant.subscription = None
        participant.publish_pc = None
        await asyncio.gather(*closing)

    async def _close_publish_pc(self, participant: ParticipantMedia, pc: RTCPeerConnection) -> None:
        await close_connection(pc, log_name=participant.log_name, leg="publish", stats=self.stats)

    def _refused(
        self,
        room_id: str,
        participant: ParticipantMedia,
        reason: DropReason,
        error: Exception,
    ) -> None:
        """A packet of hers failed to parse or to be handled: one short line a minute, no trace."""
        refusals = participant.refusals
        if refusals is None or not refusals.ready():
            return
        logger.warning(
            "dropped a received packet from %s (%s: %s); %d more since the last such line",
            participant.log_name,
            reason.value,
            type(error).__name__,
            refusals.take_suppressed(),
        )

    def _over_budget(self, room_id: str, participant: ParticipantMedia) -> None:
        """Her publish connection went over its budget: the excess is dropped (by the guard)."""
        now = self._clock()
        told = participant.problem_told_at
        if told is not None and now - told < _PROBLEM_REPEAT_S:
            return
        participant.problem_told_at = now
        logger.warning(
            "publish connection of %s over its budget: dropping the excess",
            participant.log_name,
        )
        if self._existing_participant(room_id, participant.participant_id) is participant:
            self._require_signals().connection_problem(
                room_id, participant.participant_id, ConnectionProblem.UNSTABLE_MEDIA
            )

    def _watch(self, room_id: str, participant: ParticipantMedia, pc: RTCPeerConnection) -> None:
        """Tell signaling when this connection dies under us: ICE or DTLS failed, or its
        transports were closed by anything but our own teardown (which lets go of the
        connection before closing it). aiortc has no ICE restart: the participant
        negotiates new connections, and signaling drops these."""

        def changed() -> None:
            if pc.connectionState not in ("failed", "closed"):
                return
            subscription = participant.subscription
            current = participant.publish_pc is pc or (
                subscription is not None and subscription.pc is pc
            )
            known = self._existing_participant(room_id, participant.participant_id)
            if not current or known is not participant:
                return
            self.media_failures += 1
            logger.info("media connection %s", pc.connectionState)
            if self._signals is not None:
                self._signals.media_failed(room_id, participant.participant_id)

        pc.on("connectionstatechange", changed)

    def _count_switch(self) -> None:
        self.stats.layer_switches += 1

    def _report_speaking(self, room_id: str, participant_id: str, speaking: bool) -> None:
        if speaking:
            self._speaker[room_id] = participant_id  # the speaker's video is paused last
        if self._signals is not None:
            self._signals.speaking_changed(room_id, participant_id, speaking)


def _candidate_type(types: tuple[str, str] | None) -> str | None:
    """What operators need to know of the selected pair: relayed on either side, or
    else how the client's side was found (host, srflx behind a NAT, prflx learnt
    from its connectivity checks)."""
    if types is None:
        return None
    local, remote = types
    return "relay" if "relay" in (local, remote) else remote


def _allowed(permission: ForwardingPermission, track: PublishedTrack) -> bool:
    if track.kind is TrackKind.AUDIO:
        return permission.audio
    return permission.screen if track.screen else permission.video


def _check_publish_offer(offer: SessionDescription, screen_mid: str | None = None) -> None:
    """Reject an offer the plane cannot serve before any connection state changes."""
    if offer.type != "offer":
        raise InvalidSessionDescription(f"expected an offer, got {offer.type!r}")
    try:
        parsed = parse_usable(offer.sdp)
    except ValueError as exc:
        raise InvalidSessionDescription(f"publish offer refused: {exc}") from exc
    media_sections = [m for m in parsed.media if m.kind in ("audio", "video")]
    if not media_sections:
        raise InvalidSessionDescription("publish offer has no audio or video section")
    if screen_mid is not None and not any(
        m.kind == "video" and m.rtp.muxId == screen_mid for m in media_sections
    ):
        raise InvalidSessionDescription(f"no video section {screen_mid!r} to carry a screen")
    for media in media_sections:
        kind = TrackKind(media.kind)
        if not any(is_forwardable(kind, c) for c in media.rtp.codecs if not is_rtx(c)):
            raise InvalidSessionDescription(
                f"{media.kind} section {media.rtp.muxId!r} does not offer "
                f"{FORWARDED_MIME_TYPES[kind]}, the only {media.kind} codec forwarded"
            )


def _why(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:200]
