"""A participant's subscribe connection: the server offers, the client answers."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from av.frame import Frame

from server.sfu import aiortc_internals as internals
from server.sfu.codecs import subscribe_codec_preferences
from server.sfu.copy_sender import TransportSequence
from server.sfu.downlink import DeliveredPacket, DownlinkEstimate
from server.sfu.forwarding_stats import ForwardingStats
from server.sfu.ingress import PublishBudget
from server.sfu.legs import ForwardingLeg, SubscriberSlot
from server.sfu.sdp_checks import parse_usable
from server.sfu.teardown import close_connection
from server.sfu.transport_cc import (
    MalformedFeedback,
    answered_transport_cc,
    offer_transport_cc,
    parse_transport_feedback,
    transport_feedback_payloads,
)
from signaling.media import (
    ForwardedTrack,
    InvalidSessionDescription,
    MediaNotReady,
    MediaSignals,
    SessionDescription,
    TrackKind,
)

logger = logging.getLogger(__name__)

# Browsers answer in milliseconds; ten seconds means the offer was lost, or
# the client failed to apply it, and waiting longer only delays its media.
DEFAULT_ANSWER_TIMEOUT_S = 10.0
MAX_UNANSWERED_OFFERS = 3


# Transport-wide feedbacks parsed per second at most: browsers send 4-20.
MAX_FEEDBACKS_PER_S = 50


class FeedbackAllowance:
    """At most MAX_FEEDBACKS_PER_S feedbacks a second are parsed (one-second windows)."""

    __slots__ = ("_clock", "_count", "_window")

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._window = float("-inf")
        self._count = 0

    def take(self) -> bool:
        now = self._clock()
        if now - self._window >= 1.0:
            self._window, self._count = now, 0
        self._count += 1
        return self._count <= MAX_FEEDBACKS_PER_S


class ForwardedTrackPlaceholder(MediaStreamTrack):
    """Stands in for the media a slot forwards.

    aiortc's sender loop polls every 20 ms while it has no track, and would
    encode whatever a track returned. This track's recv() never completes, so
    the loop sleeps until the sender stops and no encoder is ever built.
    """

    def __init__(self, kind: TrackKind) -> None:
        super().__init__()
        self.kind = kind.value

    async def recv(self) -> Frame:
        never: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        return await never


@dataclass(frozen=True, slots=True)
class PendingOffer:
    revision: int
    legs: tuple[ForwardingLeg, ...]


class Subscription:
    """The slots of one subscribe connection, and its offer/answer cycle.

    One offer is outstanding at a time. Changes made while it is (legs added
    or removed) are collected and offered once its answer is in.

    An offer not answered within ``answer_timeout_s`` is abandoned: a new
    offer (next revision, describing everything as it is now) replaces it,
    and an answer to the abandoned revision is refused. A client that lost
    an offer, or failed to apply it, so only delays its own subscription.
    After ``MAX_UNANSWERED_OFFERS`` offers in a row go unanswered the
    subscription stops offering until something changes again; signaling
    removes a client that is really gone when its socket drops.
    """

    def __init__(
        self,
        room_id: str,
        participant_id: str,
        pc: RTCPeerConnection,
        signals: Callable[[], MediaSignals],
        clock: Callable[[], float],
        *,
        stats: ForwardingStats,
        log_name: str,
        answer_timeout_s: float = DEFAULT_ANSWER_TIMEOUT_S,
        budget: PublishBudget | None = None,
    ) -> None:
        self._clock = clock
        self._stats = stats
        # The participant's budget, shared with her publish connection (the datagram
        # guard counts what it drops in ``stats.drops``).
        self._budget = budget
        self._answer_timeout_s = answer_timeout_s
        self._answer_deadline: asyncio.TimerHandle | None = None
        # Offers sent in a row without an answer; re-offering stops at the limit.
        self.unanswered_offers = 0
        self.room_id = room_id
        self.participant_id = participant_id
        # How log lines name her: a pseudonym, never her id (part of her join link).
        self._log_name = log_name
        self.pc = pc
        self._signals = signals
        self.slots: list[SubscriberSlot] = []
        # Her REMBs (from any slot: one estimate per connection) and the budget they imply.
        self.downlink = DownlinkEstimate(clock)
        # Transport-wide numbering of every copy she is sent, once her answer accepts it
        # (server/sfu/transport_cc.py); her feedback then feeds ``downlink``.
        self.transport_sequence = TransportSequence()
        self.transport_cc_id: int | None = None
        self._feedback_allowance = FeedbackAllowance(clock)
        self.revision = 0
        self._pending: PendingOffer | None = None
        self._dirty = False
        self._closed = False
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._reports: asyncio.Task[None] | None = None

    @property
    def usable(self) -> bool:
        """Whether slots can still be added: not closed, by us or under us."""
        state: str = self.pc.connectionState
        return not self._closed and state != "closed"

    @property
    def pending_revision(self) -> int | None:
        return None if self._pending is None else self._pending.revision

    def forwarded_tracks(self) -> list[ForwardedTrack]:
        return [
            ForwardedTrack(
                mid=slot.mid,
                participant_id=slot.leg.track.participant_id,
                kind=slot.kind,
                screen=slot.leg.track.screen,
            )
            for slot in self.slots
            if slot.leg is not None and slot.mid is not None
        ]

    def bytes_sent(self) -> int:
        """RTP bytes forwarded to her so far, on every slot (before SRTP)."""
        return sum(slot.output.bytes_sent for slot in self.slots if slot.output is not None)

    def loss(self) -> float | None:
        """The fraction lost her latest receiver reports give, over the slots that have one."""
        fractions = [r.fraction_lost for s in self.slots if (r := s.reports.latest()) is not None]
        return sum(fractions) / len(fractions) / 256 if fractions else None

    def assign(
        self, leg_factory: Callable[[SubscriberSlot], ForwardingLeg], kind: TrackKind
    ) -> ForwardingLeg:
        """Give a new leg a slot: a free one of its kind if any, else a new transceiver."""
        slot = next((s for s in self.slots if s.kind is kind and s.leg is None), None)
        if slot is None:
            slot = self._new_slot(kind)
        leg = leg_factory(slot)
        slot.leg = leg
        publisher = leg.track.participant_id
        internals.label_forwarded_track(
            slot.sender,
            stream_id=publisher,
            track_id=f"{publisher}-{kind.value}-{uuid.uuid4().hex[:8]}",
        )
        self.request_negotiation()
        return leg

    def release(self, leg: ForwardingLeg) -> None:
        if leg.slot.leg is leg:
            leg.slot.leg = None
            self.request_negotiation()

    def request_negotiation(self) -> None:
        self._dirty = True
        if self._closed or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.get_running_loop().create_task(self._negotiate())

    async def accept_answer(self, answer: SessionDescription, revision: int) -> None:
        async with self._lock:
            pending = self._pending
            if self._closed:
                raise MediaNotReady(f"subscribe connection of {self.participant_id} is closed")
            if pending is None or pending.revision != revision:
                expected = (
                    "no offer is outstanding"
                    if pending is None
                    else (f"the outstanding offer is revision {pending.revision}")
                )
                raise MediaNotReady(f"answer for revision {revision} is unexpected: {expected}")
            if answer.type != "answer":
                raise InvalidSessionDescription(f"expected an answer, got {answer.type!r}")
            try:
                parse_usable(answer.sdp)
            except ValueError as exc:
                raise InvalidSessionDescription(f"subscriber answer refused: {exc}") from exc
            try:
                await self.pc.setRemoteDescription(
                    RTCSessionDescription(sdp=answer.sdp, type="answer")
                )
            except (ValueError, InvalidStateError, OperationError, InternalError) as exc:
                raise InvalidSessionDescription(f"subscriber answer rejected: {exc}") from exc
            if self.transport_cc_id is None:
                # The first answer decides for the connection: BUNDLE keeps one id.
                self.transport_cc_id = answered_transport_cc(answer.sdp)
                if self.transport_cc_id is not None:
                    for slot in self.slots:
                        self._number_copies(slot)
            self._pending = None
            self._cancel_answer_deadline()
            self.unanswered_offers = 0
        for leg in pending.legs:
            if leg.slot.leg is leg:
                leg.mark_negotiated()
        if self._dirty:
            self.request_negotiation()

    async def close(self) -> None:
        self._closed = True
        self._cancel_answer_deadline()
        if self._task is not None:
            self._task.cancel()
        if self._reports is not None:
            self._reports.cancel()
        for slot in self.slots:
            slot.leg = None
            if slot.output is not None:
                slot.output.close()
        await close_connection(self.pc, log_name=self._log_name, leg="subscribe", stats=self._stats)

    def _new_slot(self, kind: TrackKind) -> SubscriberSlot:
        transceiver = self.pc.addTransceiver(ForwardedTrackPlaceholder(kind), direction="sendonly")
        transceiver.setCodecPreferences(subscribe_codec_preferences(kind))
        internals.guard_received_rtcp(transceiver.sender.transport, self._stats)
        slot = SubscriberSlot(kind, transceiver, self._clock)

        def started(parameters: RTCRtpSendParameters) -> None:
            slot.started(parameters)
            self._number_copies(slot)

        internals.on_sender_started(slot.sender, started)
        internals.observe_transport_feedback(transceiver.sender.transport, self._feedback)
        internals.take_over_sender_reports(slot.sender)
        if self._reports is None:
            self._reports = asyncio.get_running_loop().create_task(self._send_reports())
        internals.observe_sender_rtcp(slot.sender, slot.reports.add, self.downlink.remb)
        internals.on_keyframe_request(slot.sender, slot.keyframe_requested)
        self.slots.append(slot)
        return slot

    def _number_copies(self, slot: SubscriberSlot) -> None:
        """Once both are there (the slot's output, her answer's consent), number its copies."""
        if slot.output is not None and self.transport_cc_id is not None:
            slot.output.use_transport_sequence(
                self.transport_sequence, self.transport_cc_id, slot.kind is TrackKind.VIDEO
            )

    def _feedback(self, data: bytes) -> None:
        """A compound RTCP packet from her: its transport-wide feedback, matched with the
        send log, goes to her downlink estimate."""
        if self.transport_cc_id is None:
            return
        log = self.transport_sequence
        for fci in transport_feedback_payloads(data):
            if not self._feedback_allowance.take():
                # More than a browser sends: what the guard's budget lets through is
                # not all parsed (each costs up to MAX_STATUS_COUNT steps).
                self._stats.rtcp_dropped += 1
                continue
            try:
                feedback = parse_transport_feedback(fci)
            except MalformedFeedback:
                self._stats.rtcp_dropped += 1
                continue
            packets = []
            number = feedback.base_sequence
            for arrival in feedback.arrivals:
                sent = log.sent(number)
                if sent is not None:
                    sent_at_us, size, video = sent
                    packets.append(
                        DeliveredPacket(
                            sent_at_us / 1e6,
                            size,
                            video,
                            None if arrival is None else arrival / 1e6,
                        )
                    )
                number = (number + 1) & 0xFFFF
            if packets:
                self.downlink.queue.add(packets)

    async def _send_reports(self) -> None:
        """Every slot's sender report, together, at aiortc's per-sender interval.

        RFC 3550 varies the interval over 0.5-1.5 times the nominal second so
        that reports from many connections do not synchronise.
        """
        while not self._closed:
            await asyncio.sleep(0.5 + random.random())
            senders = [slot.sender for slot in self.slots if slot.output is not None]
            if not senders:
                continue
            try:
                await internals.send_sender_reports(senders)
            except ConnectionError:
                pass  # the connection is closing; close() cancels this loop
            except Exception:
                logger.exception("sender reports for %s failed", self._log_name)

    async def _negotiate(self) -> None:
        while self._dirty and self._pending is None and not self._closed:
            if self.revision == 0 and not any(slot.leg for slot in self.slots):
                return  # nothing to offer yet: the first offer waits for a first track
            self._dirty = False
            async with self._lock:
                try:
                    offer, pending, tracks = await self._create_offer()
                except (InvalidStateError, InvalidAccessError) as exc:
                    logger.info("subscribe offer for %s abandoned: %s", self._log_name, exc)
                    return
                self._pending = pending
                self.unanswered_offers += 1
                self._answer_deadline = asyncio.get_running_loop().call_later(
                    self._answer_timeout_s, self._answer_overdue, pending
                )
            try:
                await self._signals().send_subscriber_offer(
                    self.room_id, self.participant_id, offer, pending.revision, tracks
                )
            except Exception:
                # Signaling could not deliver it; a later change offers again.
                logger.exception(
                    "subscribe offer %d for %s not delivered", pending.revision, self._log_name
                )
                if self._pending is pending:
                    self._pending = None
                    self._cancel_answer_deadline()

    def _answer_overdue(self, pending: PendingOffer) -> None:
        self._answer_deadline = None
        if self._closed or self._pending is not pending:
            return
        logger.info(
            "subscribe offer %d for %s unanswered after %.0f s: offering again",
            pending.revision,
            self._log_name,
            self._answer_timeout_s,
        )
        self._pending = None
        if self.unanswered_offers >= MAX_UNANSWERED_OFFERS:
            self._dirty = True  # offered again by the next change
            return
        self.request_negotiation()

    def _cancel_answer_deadline(self) -> None:
        if self._answer_deadline is not None:
            self._answer_deadline.cancel()
            self._answer_deadline = None

    async def _create_offer(self) -> tuple[SessionDescription, PendingOffer, list[ForwardedTrack]]:
        # Snapshot first: legs may come and go while the offer is being made,
        # and the offer must describe exactly what this revision negotiates.
        offered = [(slot, slot.leg) for slot in self.slots if slot.leg is not None]
        for slot in self.slots:
            slot.transceiver.direction = "sendonly" if slot.leg is not None else "inactive"
        offer = await self.pc.createOffer()
        # Transport-wide congestion control, which aiortc does not offer itself.
        await self.pc.setLocalDescription(
            RTCSessionDescription(sdp=offer_transport_cc(offer.sdp), type="offer")
        )
        # Its sockets exist once gathered.
        internals.guard_media_ports(self.pc, self._stats.drops, budget=self._budget)
        self.revision += 1
        pending = PendingOffer(self.revision, tuple(leg for _, leg in offered))
        tracks = [
            ForwardedTrack(
                mid=slot.mid,
                participant_id=leg.track.participant_id,
                kind=slot.kind,
                screen=leg.track.screen,
            )
            for slot, leg in offered
            if slot.mid is not None
        ]
        local = self.pc.localDescription
        return SessionDescription(sdp=local.sdp, type=local.type), pending, tracks
