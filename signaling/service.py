"""The Socket.IO side of a room: messages in, room commands, events out.

Dispatch looks the event up in the route table (signaling.routes), parses its
payload, runs its room command or session action, and maps refusals to codes in
one place (``_dispatch``). After every command the same sequence runs
(``_deliver_and_settle``): the room's events go to their audiences, whoever left
is let go (media closed, connection unbound or closed), and the media plane is
told what each publisher may now send.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import socketio
from pydantic import ValidationError

from rooms import (
    Clock,
    Participant,
    ParticipantState,
    RecordError,
    Role,
    Room,
    RoomError,
    RoomMoved,
    RoomRecordStore,
    RoomStore,
    StoreUnavailable,
)
from rooms.events import Audience, LeaveReason, ParticipantLeft, RoomEvent, SessionEnded
from rooms.participant import Identity
from signaling.audience import in_audience
from signaling.connections import Connection, ConnectionRegistry
from signaling.delivery import RateLimitedLog, RoomDelivery
from signaling.errors import ErrorCode, SignalingError, error_reply
from signaling.event_names import ClientEvent, ServerEvent
from signaling.limits import AttemptsPerMinute, Limits, TokenBucket
from signaling.media import (
    ConnectionProblem,
    ForwardedTrack,
    ForwardingPermission,
    IceCandidate,
    Leg,
    MediaError,
    MediaPlane,
    ReceivedVideo,
    SessionDescription,
    TileView,
    check_candidate,
    check_sdp_candidates,
)
from signaling.packets import CLIENT_MESSAGE, MalformedFrame
from signaling.persistence import RoomPersistence
from signaling.placement import RoomPlacement
from signaling.pseudonyms import EphemeralPseudonyms, LogPseudonyms
from signaling.revocation import InMemoryRevokedLinks, RevokedLinks
from signaling.routes import ROUTES, Reply, Route
from signaling.schemas import (
    EmptyPayload,
    IceCandidatePayload,
    JoinPayload,
    PublishPayload,
    ReportViewPayload,
    SubscriberAnswerPayload,
)
from signaling.tokens import JoinToken, TokenError, TokenRevoked, TokenSigner, TokenWrongRoom
from signaling.turn import TurnSettings, no_ice_servers
from signaling.wire import encode_snapshot, plain

logger = logging.getLogger(__name__)

# How long a departed participant's media may take to close before signaling gives up
# waiting (and logs it); their signaling state is gone either way.
MEDIA_TEARDOWN_S = 2.0

# How refusals of names outside the protocol are counted: never the name itself,
# which the client chose.
_UNKNOWN = "unknown"


class SignalingObserver(Protocol):
    """What the server wants to know of the protocol's work: message counts for metrics
    (no content, no names) and the end of sessions (to keep audit trails if configured)."""

    def message_handled(self, event: str, error_code: str | None) -> None: ...

    def session_ended(self, room: Room) -> None: ...

    def join_completed(self, seconds: float) -> None:
        """A connection joined a room this long after it connected."""
        ...

    def delivery_problem(self, kind: str) -> None:
        """Something failed on the way out that the room carried on without:
        ``emit_failed`` (one connection), ``media_teardown_timed_out`` or
        ``media_teardown_failed`` (a departed participant's media)."""
        ...


class _Unobserved:
    def message_handled(self, event: str, error_code: str | None) -> None:
        return None

    def session_ended(self, room: Room) -> None:
        return None

    def join_completed(self, seconds: float) -> None:
        return None

    def delivery_problem(self, kind: str) -> None:
        return None


RoomFactory = Callable[[str], Room]


class Signaling:
    def __init__(
        self,
        sio: socketio.AsyncServer,
        store: RoomStore,
        signer: TokenSigner,
        clock: Clock,
        room_factory: RoomFactory,
        media: MediaPlane | None = None,
        observer: SignalingObserver | None = None,
        media_teardown_s: float = MEDIA_TEARDOWN_S,
        pseudonyms: LogPseudonyms | None = None,
        turn: TurnSettings | None = None,
        records: RoomRecordStore | None = None,
        placement: RoomPlacement | None = None,
        limits: Limits | None = None,
        revoked_links: RevokedLinks | None = None,
    ) -> None:
        """``records``: where rooms' records are written before commands are acknowledged
        (signaling.persistence); None keeps rooms in memory only (protocol tests)."""
        self._sio = sio
        self.revoked_links: RevokedLinks = revoked_links or InMemoryRevokedLinks()
        # The link each seat was last taken with: removing someone revokes it.
        self._link_of: dict[tuple[str, str], JoinToken] = {}
        self._limits = limits or Limits()
        self._joins_by_address = AttemptsPerMinute(self._limits.joins_per_minute)
        self._store = store
        self._signer = signer
        self._clock = clock
        self._room_factory = room_factory
        self._media = media
        self._observer = observer or _Unobserved()
        self._pseudonyms = pseudonyms or EphemeralPseudonyms()
        self._turn = turn
        self._connections = ConnectionRegistry()
        self._delivery = RoomDelivery(
            sio,
            self._connections,
            logger,
            on_failure=lambda: self._observer.delivery_problem("emit_failed"),
        )
        self._forwarding: dict[tuple[str, str], ForwardingPermission] = {}
        # Who has a publish connection (negotiated since their media last started), and,
        # for those whose media failed, which new connection brings them back: the
        # publish one if they published, else the subscribe one (no devices, observers).
        self._publishing: set[tuple[str, str]] = set()
        self._media_back_on: dict[tuple[str, str], Leg] = {}
        # Per room, who is in which side room, as last told to the media plane.
        self._places: dict[str, dict[str, str]] = {}
        # Per room, whose camera is paused last (facilitators, the spotlight), as last
        # told to the media plane.
        self._video_priority: dict[str, tuple[str, ...]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._malformed_log = RateLimitedLog(logger)
        self._media_teardown_s = media_teardown_s
        self._persistence = (
            None
            if records is None
            else RoomPersistence(
                records,
                logger,
                lambda room_id: self._log_ids(room_id, None),
                live_rooms=lambda: [room for room in self._store if not room.ended],
                on_moved=self._room_moved,
                write_back=self.revoked_links.write_back,
            )
        )
        self._placement = placement
        # After SIGTERM: no new joins. While handing off (a durable store): a closed
        # connection is the server going away, not its participant leaving.
        self._shutting_down = False
        self._handing_off = False
        # Media closes that did not finish in time (the participant was removed anyway).
        self.media_teardowns_timed_out = 0
        # Connections closed for not joining within the limit.
        self.unjoined_closed = 0

    @property
    def delivery_failures(self) -> int:
        """Emits that failed for one connection (the others were still served)."""
        return self._delivery.failures

    def register(self) -> None:
        # Only the library triggers these two: every client event arrives wrapped in
        # CLIENT_MESSAGE (signaling.packets), whatever name the client gave it.
        self._sio.on("connect", self._on_connect)
        self._sio.on("disconnect", self._on_disconnect)
        self._sio.on(CLIENT_MESSAGE, self._dispatch)
        if self._media is not None:
            self._media.attach(self)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._persistence is not None:
            await self._persistence.close()

    @property
    def persistence(self) -> RoomPersistence | None:
        return self._persistence

    # -- connection lifecycle ----------------------------------------------------

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        connection = self._connections.open(sid)
        request = environ.get("aiohttp.request")
        connection.address = str(getattr(request, "remote", None) or environ.get("REMOTE_ADDR", ""))
        limits = self._limits
        connection.budget = TokenBucket(limits.messages_per_s, limits.message_burst)
        if limits.join_timeout_s > 0:
            asyncio.get_running_loop().call_later(
                limits.join_timeout_s, lambda: self._spawn(self._close_if_not_joined(sid))
            )

    async def _close_if_not_joined(self, sid: str) -> None:
        """A socket that never joins holds a slot for nothing: it is closed."""
        connection = self._connections.get(sid)
        if connection is None or connection.seat is not None:
            return
        self.unjoined_closed += 1
        await self._sio.disconnect(sid)

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        connection = self._connections.get(sid)
        if connection is None:
            return
        try:
            async with connection.lock:
                # Only the participant's current connection speaks for them: a superseded
                # one was already unbound when the newer one joined (checked under the lock,
                # which a command in flight may hold while the newer one joins).
                seat = connection.seat
                if seat is None or not self._connections.speaks_for(connection):
                    return
                room_id, pid = seat
                if self._handing_off:
                    return  # they come back to the restarted node, or another, as themselves
                room = self._store.get(room_id)
                # Whatever the reason the library gives: it cannot tell a closed tab from
                # a lost network reliably (a client's goodbye races its transport's close).
                # Leaving on purpose is the ``leave`` command.
                if room is not None and room.is_present(pid):
                    with contextlib.suppress(SignalingError):  # the room moved away
                        await self._connection_lost(room, pid, connection)
        finally:
            # Even if the delivery failed or was cancelled (shutdown): no binding may
            # outlive its connection.
            self._connections.close(sid)

    async def _connection_lost(self, room: Room, pid: str, connection: Connection) -> None:
        """A dropped connection is not a departure: the room keeps the person's place for
        its grace period (``Room.tick`` lets them go after it); their media is dead."""
        logger.info("connection lost", extra=self._ids(connection))
        self._connections.unbind(connection)
        await self._deliver_and_settle(room, room.connection_lost(pid))
        self._tear_down_media(room.room_id, pid)

    # -- dispatch ------------------------------------------------------------------

    async def _dispatch(self, sid: str, name: object = None, *args: Any) -> Reply:
        if isinstance(name, MalformedFrame):
            self._malformed_log.warning("refused a malformed frame: %s", name.reason)
            return self._refuse(_UNKNOWN, ErrorCode.INVALID_PAYLOAD, name.reason)
        route = _route(name)
        if route is None:
            return self._refuse(_UNKNOWN, ErrorCode.UNKNOWN_EVENT, "no such event in the protocol")
        event = route.event.value
        connection = self._connections.get(sid)
        if connection is None:
            return self._refuse(event, ErrorCode.NOT_JOINED, "this connection is closing")
        if connection.budget is not None and not connection.budget.take():
            return self._refuse(event, ErrorCode.RATE_LIMITED, "too many messages: slow down")
        if len(args) > 1:
            return self._refuse(event, ErrorCode.INVALID_PAYLOAD, "send one payload object")
        # No argument at all is an empty payload; an explicit null is not a payload.
        raw = args[0] if args else {}
        try:
            payload = route.payload.model_validate(raw)
        except ValidationError as error:
            return self._refuse(event, ErrorCode.INVALID_PAYLOAD, _describe(error))
        async with connection.lock:
            if route.needs_join and connection.participant_id is None:
                return self._refuse(event, ErrorCode.NOT_JOINED, "join a room first")
            try:
                reply = await self._run(route, connection, payload)
            except RoomError as error:
                return self._refuse(event, ErrorCode(error.code), str(error))
            except (TokenError, MediaError) as error:
                return self._refuse(event, ErrorCode(error.code), str(error))
            except SignalingError as error:
                return self._refuse(event, error.code, error.message, error.details)
            except Exception:
                logger.exception("handler failed", extra={**self._ids(connection), "event": event})
                return self._refuse(event, ErrorCode.INTERNAL_ERROR, "the server failed")
        self._observer.message_handled(event, None)
        return {"ok": True, **reply}

    async def _run(self, route: Route[Any], connection: Connection, payload: Any) -> Reply:
        if route.command is None:
            assert route.action is not None  # a route has one or the other (a test holds it)
            return await route.action(self, connection, payload)
        room, participant = self._room_and_participant(connection)
        events = route.command(room, participant.id, payload)
        logger.info("command", extra={**self._ids(connection), "event": route.event.value})
        await self._deliver_and_settle(room, events, caller=connection.sid)
        return {}

    def _refuse(
        self, event: str, code: ErrorCode, message: str, details: dict[str, object] | None = None
    ) -> Reply:
        self._observer.message_handled(event, code.value)
        return error_reply(code.value, message, details)

    # -- session actions (signaling.routes.SessionActions) ---------------------------

    async def join(self, connection: Connection, payload: JoinPayload) -> Reply:
        if connection.participant_id is not None:
            raise SignalingError(ErrorCode.ALREADY_JOINED, "this connection has joined already")
        if self._shutting_down:
            raise SignalingError(
                ErrorCode.SERVER_SHUTTING_DOWN,
                "this server is shutting down and takes no new sessions; try again in a moment",
            )
        if not self._joins_by_address.allow(connection.address):
            raise SignalingError(ErrorCode.RATE_LIMITED, "too many joins from here: wait a minute")
        token = self._signer.verify_join(payload.token, self._clock.now())
        if payload.room_id is not None and payload.room_id != token.room_id:
            raise TokenWrongRoom("this link is for a different session")
        live = self._store.get(token.room_id)
        # The room's own refusal ("barred") says more, where it has one.
        barred = live is not None and live.bars(token.participant_id)
        if token.jti and not barred and await self.revoked_links.is_revoked(token.jti):
            raise TokenRevoked("this link was revoked; ask your facilitator for a new one")
        if live is None and 0 < self._limits.max_rooms <= sum(
            1 for r in self._store if not r.ended
        ):
            raise SignalingError(ErrorCode.SERVER_FULL, "this server holds no more sessions")
        room = await self._live_room(token.room_id)
        identity = Identity(token.participant_id, token.display_name, token.role)
        events = room.join(identity, microphone=payload.microphone, camera=payload.camera)
        previous = self._connections.bind(connection, room.room_id, identity.participant_id)
        self._link_of[(room.room_id, identity.participant_id)] = token
        if previous is not None:
            # The same person opened the link again (a second tab, a reconnect before the
            # old socket timed out): the newest connection wins, the old one is told why.
            self._tear_down_media(room.room_id, identity.participant_id)
            await self._delivery.emit(ServerEvent.SUPERSEDED, {}, previous)
            await self._sio.disconnect(previous)
        logger.info("joined", extra=self._ids(connection) | {"role": identity.role.value})
        self._observer.join_completed(time.monotonic() - connection.connected_at)
        await self._deliver_and_settle(
            room, events, caller=connection.sid, skip_snapshot_for=identity.participant_id
        )
        return {
            "snapshot": encode_snapshot(room.snapshot_for(identity.participant_id)),
            **self._ice_servers(),
        }

    async def refresh_ice_servers(self, connection: Connection, payload: EmptyPayload) -> Reply:
        return self._ice_servers()

    def _ice_servers(self) -> Reply:
        """Fresh TURN credentials for this client (never logged: they are credentials)."""
        if self._turn is None:
            return no_ice_servers()
        return self._turn.ice_servers(self._clock.now())

    async def leave(self, connection: Connection, payload: EmptyPayload) -> Reply:
        room, participant = self._room_and_participant(connection)
        events = room.leave(participant.id)
        await self._deliver_and_settle(room, events, caller=connection.sid)  # unbinds it too
        return {}

    async def get_audit(self, connection: Connection, payload: EmptyPayload) -> Reply:
        room, participant = self._room_and_participant(connection)
        records = room.audit_records(participant.id)
        return {"room_id": room.room_id, "records": plain(records)}

    async def publish(self, connection: Connection, payload: PublishPayload) -> Reply:
        media, room_id, me = self._media_for(connection, publishing=True)
        check_sdp_candidates(payload.sdp)
        offer = SessionDescription(payload.sdp, payload.type)
        # The screen section is named only when there is one: planes without screen
        # sharing keep their three-argument publish.
        answer = await (
            media.publish(room_id, me, offer)
            if payload.screen_mid is None
            else media.publish(room_id, me, offer, screen_mid=payload.screen_mid)
        )
        room = self._store.get(room_id)
        if room is not None:
            # A fresh publish (after a reconnect or a media recovery) may meet a media plane
            # that forgot this publisher (or the whole room): tell it again what they may
            # send, and whose video goes last.
            self._forwarding.pop((room_id, me), None)
            self._video_priority.pop(room_id, None)
            self._sync_forwarding(room)
            self._publishing.add((room_id, me))
            await self._media_negotiated(room, me, Leg.PUBLISH)
        return {"sdp": answer.sdp, "type": answer.type}

    async def subscribe(self, connection: Connection, payload: EmptyPayload) -> Reply:
        media, room_id, me = self._media_for(connection, publishing=False)
        await media.subscribe(room_id, me)
        room = self._store.get(room_id)
        if room is not None:
            await self._media_negotiated(room, me, Leg.SUBSCRIBE)
        return {}

    async def _media_negotiated(self, room: Room, participant_id: str, leg: Leg) -> None:
        """A new media connection of theirs was negotiated: if their media had failed,
        they are present again once it is the one that brings them back (the publish
        connection of someone who published; else the subscribe one). The media plane
        tells of failures, not of connections made: negotiated is the signal there is."""
        key = (room.room_id, participant_id)
        # Unknown (their media restarted on a connection that took their seat over):
        # the first connection back counts.
        if leg is Leg.SUBSCRIBE and self._media_back_on.get(key, Leg.SUBSCRIBE) is Leg.PUBLISH:
            return
        self._media_back_on.pop(key, None)
        events = room.media_restored(participant_id)
        if events:
            logger.info("media back", extra=self._log_ids(room.room_id, participant_id))
            # Live state only (rooms.record): nothing durable changed.
            await self._deliver_and_settle(room, events, persist=False)

    async def subscriber_answer(
        self, connection: Connection, payload: SubscriberAnswerPayload
    ) -> Reply:
        media, room_id, me = self._media_for(connection, publishing=False)
        check_sdp_candidates(payload.sdp)
        answer = SessionDescription(payload.sdp, payload.type)
        await media.accept_subscriber_answer(room_id, me, answer, payload.revision)
        return {}

    async def ice_candidate(self, connection: Connection, payload: IceCandidatePayload) -> Reply:
        media, room_id, me = self._media_for(connection, publishing=False)
        check_candidate(payload.candidate)
        candidate = IceCandidate(payload.candidate, payload.sdp_mid, payload.sdp_mline_index)
        await media.add_ice_candidate(room_id, me, payload.leg, candidate)
        return {}

    async def restart_media(self, connection: Connection, payload: EmptyPayload) -> Reply:
        """The client's media failed (or its network changed): drop both of its peer
        connections here, so that a fresh publish and subscribe start from nothing.
        The socket, and the person's place in the room, are untouched."""
        media, room_id, me = self._media_for(connection, publishing=False)
        self._forwarding.pop((room_id, me), None)
        self._publishing.discard((room_id, me))
        await self._bounded_teardown(media.remove_participant(room_id, me), room_id, me)
        logger.info("media restarted", extra=self._ids(connection))
        return {}

    async def report_view(self, connection: Connection, payload: ReportViewPayload) -> Reply:
        """How this subscriber shows the others' cameras: the media plane picks each
        one's layer (or pauses it) from this. Each report replaces the previous one."""
        media, room_id, me = self._media_for(connection, publishing=False)
        tiles = [TileView(t.participant_id, t.visible, t.width, t.height) for t in payload.tiles]
        media.set_view(room_id, me, tiles)
        return {}

    def _media_for(
        self, connection: Connection, *, publishing: bool
    ) -> tuple[MediaPlane, str, str]:
        room, participant = self._room_and_participant(connection)
        # The role first, then the state, as the room checks its commands: someone
        # waiting learns what their role may never do, not that they should wait for it.
        if publishing and participant.role is Role.OBSERVER:
            raise SignalingError(ErrorCode.PERMISSION_DENIED, "observers do not publish media")
        if participant.state is not ParticipantState.ADMITTED:
            raise SignalingError(ErrorCode.NOT_IN_ROOM, "media starts once you are admitted")
        if self._media is None:
            raise SignalingError(ErrorCode.MEDIA_UNAVAILABLE, "this server relays no media")
        return self._media, room.room_id, participant.id

    # -- rooms taken on from their records --------------------------------------------

    async def room(self, room_id: str) -> Room | None:
        """The room, live on this node or taken on from its record; None when it has
        neither (never made, or forgotten after its retention). Raises
        StoreUnavailable when only the record store could say."""
        room = self._store.get(room_id)
        if room is not None or self._persistence is None:
            return room
        record = await self._persistence.load(room_id)
        room = self._store.get(room_id)  # someone else took it on while we waited
        if room is not None or record is None:
            return room
        try:
            room = Room.from_record(record, self._clock)
        except RecordError:
            logger.exception("room record unreadable", extra=self._log_ids(room_id, None))
            raise SignalingError(
                ErrorCode.INTERNAL_ERROR, "this session's saved state cannot be read"
            ) from None
        # How long a dropped connection keeps its place and how many may wait are this
        # node's policy (its configuration), not the room's record: take them from a
        # room this node would make.
        policy = self._room_factory(room_id)
        room.reconnect_grace_s = policy.reconnect_grace_s
        room.waiting_room_size = policy.waiting_room_size
        # Nobody is connected to a room just taken on: everyone it remembers is
        # reconnecting under the grace period of a dropped connection (one rule), and
        # ``tick`` lets go of whoever does not rejoin within it. No one is here to be
        # told; the rejoiners' snapshots show it.
        room.restored()
        self._store.add(room)
        logger.info("room taken on from its record", extra=self._log_ids(room_id, None))
        return room

    async def add_room(self, room: Room) -> None:
        """A room made outside Socket.IO (the admin API): kept before it is announced.
        Raises StoreUnavailable (and adds nothing) when its record cannot be written."""
        self._store.add(room)  # raises KeyError if it is live here already
        if self._persistence is None:
            return
        try:
            if not self._persistence.available:
                raise StoreUnavailable("the room store is down")
            await self._persistence.records.save(room.to_record())
        except BaseException:
            self._store.discard(room.room_id)
            raise

    async def _live_room(self, room_id: str) -> Room:
        """The room a join is for: live here, taken on from its record, or new. When
        several nodes share the store, a room not live here is placed first: on this
        node, or the join is redirected to the node that holds it."""
        try:
            if self._store.get(room_id) is None and self._placement is not None:
                node_url = await self._placement.node_for(room_id)
                if node_url is not None:
                    raise SignalingError(
                        ErrorCode.WRONG_NODE,
                        "this session is served by another node: join there",
                        {"node_url": node_url},
                    )
            room = await self.room(room_id)
        except StoreUnavailable:
            raise SignalingError(
                ErrorCode.SERVICE_UNAVAILABLE,
                "the server cannot reach its session store just now; try again in a moment",
            ) from None
        if room is None:
            room = self._store.get(room_id) or self._room_factory(room_id)
            if self._store.get(room_id) is None:
                self._store.add(room)
        return room

    # -- shutting down (SIGTERM; server.cli) ------------------------------------------

    async def announce_shutdown(self, retry_after_s: float, *, sessions_continue: bool) -> None:
        """Take no more joins, and tell everyone in a room that this server is going
        away: whether their session continues (a durable store: reconnect after about
        ``retry_after_s``, to the restarted server or another) or ends here."""
        self._shutting_down = True
        payload = {"retry_after_s": retry_after_s, "sessions_continue": sessions_continue}
        for room in list(self._store):
            for sid, _ in self._connections.in_room(room.room_id):
                await self._delivery.emit(ServerEvent.SERVER_SHUTTING_DOWN, payload, sid)

    async def hand_off(self) -> bool:
        """A durable store: write every live room as it is now, and from here on treat
        closed connections as the server going away, not as people leaving, so the
        records keep everyone present for their rejoin. True when every room is written."""
        self._handing_off = True
        kept = True if self._persistence is None else await self._persistence.flush()
        for room in list(self._store):
            for sid, _ in self._connections.in_room(room.room_id):
                await self._close_transport(sid)
        return kept

    async def _close_transport(self, sid: str) -> None:
        """Close a connection at the Engine.IO level, as a restart's network would: a
        Socket.IO "server disconnect" would tell its client not to reconnect, and it
        must (to come back to the restarted node, or to reach the room's node)."""
        eio_sid = self._sio.manager.eio_sid_from_sid(sid, "/")
        if eio_sid is not None:
            await self._sio.eio.disconnect(eio_sid)

    def room_moved(self, room_id: str) -> None:
        """The cluster found this room placed on another node (server.cluster)."""
        room = self._store.get(room_id)
        if room is not None:
            self._room_moved(room)

    def _room_moved(self, room: Room) -> None:
        """Another node holds this room now (this one lost its lease: paused too long).
        Stop serving it: forget it here, close its media, and close its connections so
        their clients reconnect and are sent to the room's node. Its state is the other
        node's now; nothing from here is written."""
        if self._store.get(room.room_id) is not room:
            return
        logger.warning(
            "room moved to another node: letting go", extra=self._log_ids(room.room_id, None)
        )
        self._store.discard(room.room_id)
        if self._persistence is not None:
            self._persistence.forget(room.room_id)
        self._tear_down_media(room.room_id, None)
        sids = [sid for sid, _ in self._connections.in_room(room.room_id)]
        for sid in sids:
            self._connections.unbind_sid(sid)
            self._spawn(self._close_transport(sid))

    async def end_all_sessions(self, reason: str) -> None:
        """A store that dies with the process: end every session properly (everyone is
        told, media closes, audit trails are kept) rather than let it vanish."""
        for room in list(self._store):
            if not room.ended:
                await self._deliver_and_settle(room, room.end_session(None, reason))

    # -- commands that do not come over Socket.IO ------------------------------------

    async def tick(self) -> None:
        """Let time act in every live room (turn timers, the session clock)."""
        for room in self._store:
            events = room.tick()
            if events:
                try:
                    await self._deliver_and_settle(room, events)
                except SignalingError:
                    continue  # the room moved to another node: let go of already

    async def end_room_by_operator(self, room: Room, operator_id: str, reason: str) -> None:
        """An operator ends a session; the room records who and why."""
        await self._deliver_and_settle(room, room.end_by_operator(operator_id, reason))

    async def apply(self, room: Room, events: list[RoomEvent]) -> None:
        """Deliver events of a command that did not come over Socket.IO (timers, the API)."""
        await self._deliver_and_settle(room, events)

    # -- MediaSignals: what the media plane tells us -----------------------------------

    async def send_subscriber_offer(
        self,
        room_id: str,
        participant_id: str,
        offer: SessionDescription,
        revision: int,
        tracks: list[ForwardedTrack],
    ) -> None:
        sid = self._connections.sid_for(room_id, participant_id)
        if sid is None:
            return
        payload = {
            "sdp": offer.sdp,
            "type": offer.type,
            "revision": revision,
            "tracks": plain(tracks),
        }
        await self._delivery.emit(ServerEvent.SUBSCRIBER_OFFER, payload, sid)

    def media_failed(self, room_id: str, participant_id: str) -> None:
        """Drop the dead connections and tell the participant, whose client negotiates
        new ones over the same socket (``restart_media``, then publish and subscribe).
        The room sees them as reconnecting until then (``Room.media_lost``)."""
        key = (room_id, participant_id)
        # Decided at the first failure: a second report (the other connection) finds
        # the publish connection dropped already.
        back_on = self._media_back_on.get(key) or (
            Leg.PUBLISH if key in self._publishing else Leg.SUBSCRIBE
        )
        self._tear_down_media(room_id, participant_id)
        sid = self._connections.sid_for(room_id, participant_id)
        logger.info("media failed", extra=self._log_ids(room_id, participant_id))
        if sid is not None:
            self._spawn(self._delivery.emit(ServerEvent.MEDIA_FAILED, {}, sid))
        room = self._store.get(room_id)
        if room is not None and room.is_present(participant_id):
            self._media_back_on[key] = back_on
            events = room.media_lost(participant_id)
            if events:
                # Live state only (rooms.record): nothing durable changed.
                self._spawn(self._deliver_and_settle(room, events, persist=False))

    def video_forwarding_changed(
        self, room_id: str, participant_id: str, videos: Sequence[ReceivedVideo]
    ) -> None:
        """What this subscriber now receives of each camera: to them alone (it says
        nothing about anyone's conduct, only what their own link carries)."""
        self._emit_to(
            room_id, participant_id, ServerEvent.VIDEO_FORWARDING, {"videos": plain(videos)}
        )

    def publish_layers_changed(
        self, room_id: str, participant_id: str, active: Mapping[str, bool]
    ) -> None:
        """Which of their camera's layers anyone receives: to that publisher alone,
        whose client pauses the others at its encoder."""
        self._emit_to(room_id, participant_id, ServerEvent.PUBLISH_LAYERS, {"active": dict(active)})

    def _emit_to(
        self, room_id: str, participant_id: str, name: ServerEvent, payload: dict[str, Any]
    ) -> None:
        """A media report to the one participant it concerns, if they are connected.
        Spawned in call order: tasks start in the order made and Socket.IO queues the
        packet as its task starts, so the client gets reports in the order the media
        plane made them (the newest is the one that holds; a test holds the order)."""
        sid = self._connections.sid_for(room_id, participant_id)
        if sid is not None:
            self._spawn(self._delivery.emit(name, payload, sid))

    def speaking_changed(self, room_id: str, participant_id: str, speaking: bool) -> None:
        room = self._store.get(room_id)
        if room is None:
            return
        events = room.speaking_changed(participant_id, speaking)
        if events:
            # Talk time is live-only (rooms.record): nothing here is written.
            self._spawn(self._deliver_and_settle(room, events, persist=False))

    # -- after every command -------------------------------------------------------------

    async def _deliver_and_settle(
        self,
        room: Room,
        events: list[RoomEvent],
        *,
        caller: str | None = None,
        skip_snapshot_for: str | None = None,
        persist: bool = True,
    ) -> None:
        """Keep the room's record, send the room's events to their audiences, let go of
        whoever left, and tell the media plane what each publisher may now send; in the
        order the room's commands ran. The record is written first: the caller's
        acknowledgment goes out only after this returns (signaling.persistence).
        ``persist=False``: nothing durable changed (speaking, talk time)."""
        async with self._delivery.lock(room.room_id):
            if persist and self._persistence is not None:
                try:
                    await self._persistence.save(room)
                except RoomMoved:
                    self._room_moved(room)
                    raise SignalingError(
                        ErrorCode.SERVICE_UNAVAILABLE,
                        "this session has moved to another server; reconnect and join again",
                    ) from None
            await self._delivery.deliver(room, events, skip_snapshot_for=skip_snapshot_for)
            await self._settle_departures(room, events, caller)
            self._sync_forwarding(room)

    async def _settle_departures(
        self, room: Room, events: Iterable[RoomEvent], caller: str | None
    ) -> None:
        """Close the media of whoever is gone, and the connections of whoever may not stay."""
        if any(isinstance(event, SessionEnded) for event in events):
            self._observer.session_ended(room)
            self._tear_down_media(room.room_id, None)
            for seat in [s for s in self._link_of if s[0] == room.room_id]:
                del self._link_of[seat]
            for sid, _ in self._connections.in_room(room.room_id):
                await self._drop(sid, keep_open=sid == caller)
            return
        barred = {
            event.participant_id
            for event in events
            if isinstance(event, ParticipantLeft)
            and event.reason in (LeaveReason.REMOVED, LeaveReason.DENIED)
        }
        for event in events:
            if isinstance(event, ParticipantLeft):
                # Whoever was removed or denied cannot use their link again.
                link = self._link_of.pop((room.room_id, event.participant_id), None)
                if link is not None and link.jti and event.participant_id in barred:
                    kept = await self.revoked_links.keep(link.jti, link.expires_at)
                    if not kept and self._persistence is not None:
                        # Refused here already; written when the store answers again.
                        self._persistence.store_went_down()
        for sid, pid in self._connections.in_room(room.room_id):
            if room.is_present(pid):
                continue
            self._tear_down_media(room.room_id, pid)
            if pid in barred:
                await self._drop(sid, keep_open=sid == caller)
            else:
                self._connections.unbind_sid(sid)

    def _tear_down_media(self, room_id: str, participant_id: str | None) -> None:
        """Close a departed participant's media (None: the whole room's) in the
        background, bounded: this runs under the room's delivery lock, and a media
        close that hangs must not stop the room's events. Signaling forgets them now."""
        if participant_id is None:
            for key in [k for k in self._forwarding if k[0] == room_id]:
                del self._forwarding[key]
            self._places.pop(room_id, None)
            self._publishing = {k for k in self._publishing if k[0] != room_id}
            self._media_back_on = {k: v for k, v in self._media_back_on.items() if k[0] != room_id}
            self._video_priority.pop(room_id, None)
        else:
            self._forwarding.pop((room_id, participant_id), None)
            self._publishing.discard((room_id, participant_id))
            self._media_back_on.pop((room_id, participant_id), None)
        if self._media is None:
            return
        closing = (
            self._media.close_room(room_id)
            if participant_id is None
            else self._media.remove_participant(room_id, participant_id)
        )
        self._spawn(self._bounded_teardown(closing, room_id, participant_id))

    async def _bounded_teardown(
        self, closing: Awaitable[None], room_id: str, participant_id: str | None
    ) -> None:
        ids = self._log_ids(room_id, participant_id)
        try:
            await asyncio.wait_for(closing, self._media_teardown_s)
        except TimeoutError:
            self.media_teardowns_timed_out += 1
            self._observer.delivery_problem("media_teardown_timed_out")
            logger.warning("media teardown timed out", extra=ids)
        except Exception as error:
            self._observer.delivery_problem("media_teardown_failed")
            logger.warning("media teardown failed: %s", type(error).__name__, extra=ids)

    async def _drop(self, sid: str, *, keep_open: bool) -> None:
        """Unbind a connection from its room and close it. The connection whose command
        caused this stays open (unbound) so its ack still arrives; its client closes it."""
        connection = self._connections.get(sid)
        if connection is None:
            return
        ids = self._ids(connection)
        self._connections.unbind(connection)
        if keep_open:
            return
        logger.info("connection closed by server", extra=ids)
        await self._sio.disconnect(sid)

    def _sync_forwarding(self, room: Room) -> None:
        """Tell the media plane what each publisher may send, when that changes."""
        if self._media is None:
            return
        for participant in room.admitted():
            key = (room.room_id, participant.id)
            permission = ForwardingPermission(
                audio=room.may_be_heard(participant.id),
                video=room.may_be_seen(participant.id),
                screen=room.is_sharing_screen(participant.id),
            )
            if self._forwarding.get(key) != permission:
                self._forwarding[key] = permission
                self._media.set_forwarding(room.room_id, participant.id, permission)
        # Side rooms: media flows only within a place. Told only once a room uses them.
        places = {
            p.id: place for p in room.admitted() if (place := room.place_of(p.id)) is not None
        }
        if places != self._places.get(room.room_id, {}):
            self._places[room.room_id] = places
            self._media.set_places(room.room_id, places)
        # Whose video a subscriber short of bandwidth keeps longest.
        priority = _video_priority(room)
        if priority != self._video_priority.get(room.room_id):
            self._video_priority[room.room_id] = priority
            self._media.set_video_priority(room.room_id, list(priority))

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _ids(self, connection: Connection) -> dict[str, str | None]:
        return self._log_ids(connection.room_id, connection.participant_id)

    def _log_ids(self, room_id: str | None, participant_id: str | None) -> dict[str, str | None]:
        """Ids as logs carry them: pseudonyms, as the operators' view shows them. A room
        id may be meaningful and a participant id is in that person's join link."""
        if room_id is None:
            return {"room_id": None, "participant_id": None}
        return {
            "room_id": self._pseudonyms.room(room_id),
            "participant_id": (
                None
                if participant_id is None
                else self._pseudonyms.participant(room_id, participant_id)
            ),
        }

    def _room_and_participant(self, connection: Connection) -> tuple[Room, Participant]:
        if connection.room_id is None or connection.participant_id is None:
            raise SignalingError(ErrorCode.NOT_JOINED, "join a room first")
        room = self._store.get(connection.room_id)
        if room is None:
            raise SignalingError(ErrorCode.ROOM_ENDED, "this session no longer exists")
        return room, room.participant(connection.participant_id)

    def connection_problem(
        self, room_id: str, participant_id: str, problem: ConnectionProblem
    ) -> None:
        """MediaSignals: tell the room's facilitators, and no one else, of a media problem."""
        room = self._store.get(room_id)
        if room is None or not room.is_present(participant_id):
            return
        payload = {"participant_id": participant_id, "problem": problem.value}
        for sid, pid in self._connections.in_room(room_id):
            if in_audience(room, pid, Audience.FACILITATORS):
                self._spawn(self._delivery.emit(ServerEvent.CONNECTION_PROBLEM, payload, sid))


def _route(name: object) -> Route[Any] | None:
    """The route of a client-chosen name: only the protocol's table is consulted."""
    if not isinstance(name, str):
        return None
    try:
        return ROUTES.get(ClientEvent(name))
    except ValueError:
        return None


def _video_priority(room: Room) -> tuple[str, ...]:
    """The room's facilitators and co-facilitators (admitted), then the spotlighted
    person: whose cameras are paused last for bandwidth."""
    ids = [p.id for p in room.admitted() if p.role.facilitates]
    spotlighted = room.spotlighted()
    if spotlighted is not None and spotlighted not in ids:
        ids.append(spotlighted)
    return tuple(ids)


def _describe(error: ValidationError) -> str:
    problems = []
    for problem in error.errors(include_url=False, include_input=False)[:3]:
        where = ".".join(str(part) for part in problem["loc"]) or "payload"
        problems.append(f"{where}: {problem['msg']}")
    return "; ".join(problems)
