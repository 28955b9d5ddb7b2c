"""The Socket.IO side of a room: messages in, room commands, events out.

Each handler parses its payload, calls the room, and returns the ack; errors
are mapped to codes in one place (``_dispatch``). Who receives an event is
the room's decision (``RoomEvent.audience``); this module only resolves the
audience to connections.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import socketio
from pydantic import BaseModel, ValidationError

from rooms import Clock, Participant, ParticipantState, Role, Room, RoomError, RoomStore
from rooms.events import (
    Audience,
    LeaveReason,
    ParticipantAdmitted,
    ParticipantLeft,
    RoomEvent,
    SessionEnded,
)
from rooms.participant import Identity
from rooms.schedule import Schedule
from signaling.errors import ErrorCode, SignalingError, error_reply
from signaling.events import ClientEvent, ServerEvent
from signaling.media import (
    ConnectionProblem,
    ForwardedTrack,
    ForwardingPermission,
    IceCandidate,
    MediaError,
    MediaPlane,
    SessionDescription,
)
from signaling.schemas import (
    AnswerUnmuteRequestPayload,
    DeviceTargetPayload,
    EmptyPayload,
    EndSessionPayload,
    ExtendTurnPayload,
    FinishTurnPayload,
    GiveFloorPayload,
    IceCandidatePayload,
    JoinPayload,
    LowerHandPayload,
    PublishPayload,
    SendChatPayload,
    SetFloorModePayload,
    SetGroundRulesPayload,
    SetMediaPayload,
    SetSchedulePayload,
    StartRoundPayload,
    SubscriberAnswerPayload,
    TargetPayload,
    UpdateSettingsPayload,
)
from signaling.tokens import TokenError, TokenSigner, TokenWrongRoom
from signaling.wire import encode_event, encode_snapshot, plain

log = logging.getLogger("groupsession.signaling")

Reply = dict[str, Any]


class SignalingObserver(Protocol):
    """What the server wants to know of the protocol's work: message counts for metrics
    (no content, no names) and the end of sessions (to keep audit trails if configured)."""

    def message_handled(self, event: str, error_code: str | None) -> None: ...

    def session_ended(self, room: Room) -> None: ...

    def join_completed(self, seconds: float) -> None:
        """A connection joined a room this long after it connected."""
        ...


class _Unobserved:
    def message_handled(self, event: str, error_code: str | None) -> None:
        return None

    def session_ended(self, room: Room) -> None:
        return None

    def join_completed(self, seconds: float) -> None:
        return None


RoomFactory = Callable[[str], Room]


@dataclass(slots=True)
class Connection:
    """One Socket.IO connection, bound to a participant once it has joined."""

    sid: str
    connected_at: float = field(default_factory=time.monotonic)
    room_id: str | None = None
    participant_id: str | None = None
    # One message at a time per connection, in arrival order: Socket.IO runs each
    # handler as its own task, and room commands must not overtake each other.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True, slots=True)
class _Route:
    payload: type[BaseModel]
    handler: Callable[[Connection, Any], Awaitable[Reply]]
    needs_join: bool = True


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
    ) -> None:
        self._sio = sio
        self._store = store
        self._signer = signer
        self._clock = clock
        self._room_factory = room_factory
        self._media = media
        self._observer = observer or _Unobserved()
        self._connections: dict[str, Connection] = {}
        self._sid_of: dict[tuple[str, str], str] = {}
        self._forwarding: dict[tuple[str, str], ForwardingPermission] = {}
        self._background: set[asyncio.Task[None]] = set()
        # Weak: a room's lock lives while a delivery holds or awaits it, no longer.
        self._delivery_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._routes: dict[ClientEvent, _Route] = {
            ClientEvent.JOIN: _Route(JoinPayload, self._join, needs_join=False),
            ClientEvent.LEAVE: _Route(EmptyPayload, self._leave),
            ClientEvent.ACCEPT_GROUND_RULES: _Route(EmptyPayload, self._accept_ground_rules),
            ClientEvent.SET_MEDIA: _Route(SetMediaPayload, self._set_media),
            ClientEvent.ANSWER_UNMUTE_REQUEST: _Route(
                AnswerUnmuteRequestPayload, self._answer_unmute_request
            ),
            ClientEvent.RAISE_HAND: _Route(EmptyPayload, self._raise_hand),
            ClientEvent.LOWER_HAND: _Route(LowerHandPayload, self._lower_hand),
            ClientEvent.SEND_CHAT: _Route(SendChatPayload, self._send_chat),
            ClientEvent.ADMIT: _Route(TargetPayload, self._admit),
            ClientEvent.DENY: _Route(TargetPayload, self._deny),
            ClientEvent.ADMIT_ALL: _Route(EmptyPayload, self._admit_all),
            ClientEvent.UPDATE_SETTINGS: _Route(UpdateSettingsPayload, self._update_settings),
            ClientEvent.MUTE: _Route(DeviceTargetPayload, self._mute),
            ClientEvent.MUTE_ALL: _Route(EmptyPayload, self._mute_all),
            ClientEvent.ASK_TO_UNMUTE: _Route(DeviceTargetPayload, self._ask_to_unmute),
            ClientEvent.ALLOW_UNMUTE: _Route(DeviceTargetPayload, self._allow_unmute),
            ClientEvent.REMOVE: _Route(TargetPayload, self._remove),
            ClientEvent.END_SESSION: _Route(EndSessionPayload, self._end_session),
            ClientEvent.SET_FLOOR_MODE: _Route(SetFloorModePayload, self._set_floor_mode),
            ClientEvent.GIVE_FLOOR: _Route(GiveFloorPayload, self._give_floor),
            ClientEvent.TAKE_BACK_FLOOR: _Route(EmptyPayload, self._take_back_floor),
            ClientEvent.YIELD_FLOOR: _Route(EmptyPayload, self._yield_floor),
            ClientEvent.START_ROUND: _Route(StartRoundPayload, self._start_round),
            ClientEvent.FINISH_TURN: _Route(FinishTurnPayload, self._finish_turn),
            ClientEvent.SKIP_TURN: _Route(EmptyPayload, self._skip_turn),
            ClientEvent.EXTEND_TURN: _Route(ExtendTurnPayload, self._extend_turn),
            ClientEvent.END_ROUND: _Route(EmptyPayload, self._end_round),
            ClientEvent.SET_GROUND_RULES: _Route(SetGroundRulesPayload, self._set_ground_rules),
            ClientEvent.SET_SCHEDULE: _Route(SetSchedulePayload, self._set_schedule),
            ClientEvent.GET_AUDIT: _Route(EmptyPayload, self._get_audit),
            ClientEvent.PUBLISH: _Route(PublishPayload, self._publish),
            ClientEvent.SUBSCRIBE: _Route(EmptyPayload, self._subscribe),
            ClientEvent.SUBSCRIBER_ANSWER: _Route(SubscriberAnswerPayload, self._subscriber_answer),
            ClientEvent.ICE_CANDIDATE: _Route(IceCandidatePayload, self._ice_candidate),
        }

    def register(self) -> None:
        self._sio.on("connect", self._on_connect)
        self._sio.on("disconnect", self._on_disconnect)
        self._sio.on("*", self._dispatch)
        if self._media is not None:
            self._media.attach(self)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    # -- connection lifecycle ----------------------------------------------------

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        self._connections[sid] = Connection(sid)

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        connection = self._connections.get(sid)
        if connection is None:
            return
        try:
            room_id, pid = connection.room_id, connection.participant_id
            # Only the participant's current connection speaks for them: a superseded one
            # was already unbound when the newer one joined.
            if room_id is None or pid is None or self._sid_of.get((room_id, pid)) != sid:
                return
            room = self._store.get(room_id)
            async with connection.lock:
                if room is not None and room.is_present(pid):
                    events = room.leave(pid, LeaveReason.DISCONNECTED)
                    log.info("disconnected", extra=_ids(connection))
                    # Also closes the participant's media and unbinds this connection.
                    await self._publish_events(room, events)
        finally:
            # Even if the delivery failed or was cancelled (shutdown): no binding may
            # outlive its connection.
            self._unbind(connection)
            self._connections.pop(sid, None)

    # -- dispatch ------------------------------------------------------------------

    async def _dispatch(self, event: str, sid: str, *args: Any) -> Reply:
        connection = self._connections.get(sid)
        if connection is None:
            return self._refuse(event, ErrorCode.NOT_JOINED, "this connection is closing")
        try:
            client_event = ClientEvent(event)
        except ValueError:
            return self._refuse(event, ErrorCode.UNKNOWN_EVENT, "no such event in the protocol")
        route = self._routes[client_event]
        raw = args[0] if args else None
        try:
            payload = route.payload.model_validate({} if raw is None else raw)
        except ValidationError as error:
            return self._refuse(event, ErrorCode.INVALID_PAYLOAD, _describe(error))
        async with connection.lock:
            if route.needs_join and connection.participant_id is None:
                return self._refuse(event, ErrorCode.NOT_JOINED, "join a room first")
            try:
                reply = await route.handler(connection, payload)
            except RoomError as error:
                return self._refuse(event, ErrorCode(error.code), str(error))
            except (TokenError, MediaError) as error:
                return self._refuse(event, ErrorCode(error.code), str(error))
            except SignalingError as error:
                return self._refuse(event, error.code, error.message)
            except Exception:
                log.exception("handler failed", extra={**_ids(connection), "event": event})
                return self._refuse(event, ErrorCode.INTERNAL_ERROR, "the server failed")
        self._observer.message_handled(event, None)
        return {"ok": True, **reply}

    def _refuse(self, event: str, code: ErrorCode, message: str) -> Reply:
        self._observer.message_handled(event, code.value)
        return error_reply(code.value, message)

    # -- joining and leaving ---------------------------------------------------------

    async def _join(self, connection: Connection, payload: JoinPayload) -> Reply:
        if connection.participant_id is not None:
            raise SignalingError(ErrorCode.ALREADY_JOINED, "this connection has joined already")
        token = self._signer.verify_join(payload.token, self._clock.now())
        if payload.room_id is not None and payload.room_id != token.room_id:
            raise TokenWrongRoom("this link is for a different session")
        room = self._store.get(token.room_id)
        if room is None:
            room = self._room_factory(token.room_id)
            self._store.add(room)
        identity = Identity(token.participant_id, token.display_name, token.role)
        events = room.join(identity, microphone=payload.microphone, camera=payload.camera)
        await self._bind(connection, room.room_id, identity.participant_id)
        log.info("joined", extra=_ids(connection) | {"role": identity.role.value})
        self._observer.join_completed(time.monotonic() - connection.connected_at)
        await self._publish_events(
            room, events, caller=connection.sid, skip_snapshot_for=identity.participant_id
        )
        return {"snapshot": encode_snapshot(room.snapshot_for(identity.participant_id))}

    async def _bind(self, connection: Connection, room_id: str, participant_id: str) -> None:
        key = (room_id, participant_id)
        previous = self._sid_of.get(key)
        connection.room_id, connection.participant_id = room_id, participant_id
        self._sid_of[key] = connection.sid
        if previous is not None and previous != connection.sid:
            # The same person opened the link again (a second tab, a reconnect before the
            # old socket timed out): the newest connection wins, the old one is told why.
            self._connections.pop(previous, None)
            if self._media is not None:
                await self._media.remove_participant(room_id, participant_id)
                self._forwarding.pop(key, None)
            await self._sio.emit(ServerEvent.SUPERSEDED.value, {}, to=previous)
            await self._sio.disconnect(previous)

    async def _leave(self, connection: Connection, _: EmptyPayload) -> Reply:
        room, participant = self._room_and_participant(connection)
        events = room.leave(participant.id)
        await self._publish_events(room, events, caller=connection.sid)  # unbinds it too
        return {}

    def _unbind(self, connection: Connection) -> None:
        room_id, pid = connection.room_id, connection.participant_id
        if (
            room_id is not None
            and pid is not None
            and self._sid_of.get((room_id, pid)) == connection.sid
        ):
            del self._sid_of[(room_id, pid)]
        connection.room_id = connection.participant_id = None

    def _unbind_sid(self, sid: str) -> None:
        connection = self._connections.get(sid)
        if connection is not None:
            self._unbind(connection)
        else:
            for key in [k for k, bound in self._sid_of.items() if bound == sid]:
                del self._sid_of[key]

    # -- commands ------------------------------------------------------------------------

    async def _command(
        self, connection: Connection, run: Callable[[Room, str], list[RoomEvent]]
    ) -> Reply:
        room, participant = self._room_and_participant(connection)
        events = run(room, participant.id)
        log.info("command", extra=_ids(connection))
        await self._publish_events(room, events, caller=connection.sid)
        return {}

    async def _accept_ground_rules(self, c: Connection, _: EmptyPayload) -> Reply:
        return await self._command(c, lambda room, me: room.accept_ground_rules(me))

    async def _set_media(self, c: Connection, p: SetMediaPayload) -> Reply:
        return await self._command(c, lambda room, me: room.set_own_media(me, p.device, p.on))

    async def _answer_unmute_request(self, c: Connection, p: AnswerUnmuteRequestPayload) -> Reply:
        return await self._command(
            c, lambda room, me: room.answer_unmute_request(me, p.device, p.accept)
        )

    async def _raise_hand(self, c: Connection, _: EmptyPayload) -> Reply:
        return await self._command(c, lambda room, me: room.raise_hand(me))

    async def _lower_hand(self, c: Connection, p: LowerHandPayload) -> Reply:
        return await self._command(c, lambda room, me: room.lower_hand(me, p.participant_id))

    async def _send_chat(self, c: Connection, p: SendChatPayload) -> Reply:
        return await self._command(
            c, lambda room, me: room.send_chat(me, p.text, to_facilitators=p.to_facilitators)
        )

    async def _admit(self, c: Connection, p: TargetPayload) -> Reply:
        return await self._command(c, lambda room, me: room.admit(me, p.participant_id))

    async def _deny(self, c: Connection, p: TargetPayload) -> Reply:
        return await self._command(c, lambda room, me: room.deny(me, p.participant_id))

    async def _admit_all(self, c: Connection, _: EmptyPayload) -> Reply:
        return await self._command(c, lambda room, me: room.admit_all(me))

    async def _update_settings(self, c: Connection, p: UpdateSettingsPayload) -> Reply:
        def run(room: Room, me: str) -> list[RoomEvent]:
            # All four share one permission, so either all apply or the first refuses.
            events: list[RoomEvent] = []
            if p.locked is not None:
                events += room.lock(me, p.locked)
            if p.auto_admit is not None:
                events += room.set_auto_admit(me, p.auto_admit)
            if p.self_unmute_allowed is not None:
                events += room.set_self_unmute(me, p.self_unmute_allowed)
            if p.chat_enabled is not None:
                events += room.set_chat_enabled(me, p.chat_enabled)
            return events[-1:]  # each carries the whole settings; the last is the newest

        return await self._command(c, run)

    async def _mute(self, c: Connection, p: DeviceTargetPayload) -> Reply:
        return await self._command(c, lambda room, me: room.mute(me, p.participant_id, p.device))

    async def _mute_all(self, c: Connection, _: EmptyPayload) -> Reply:
        return await self._command(c, lambda room, me: room.mute_all(me))

    async def _ask_to_unmute(self, c: Connection, p: DeviceTargetPayload) -> Reply:
        return await self._command(
            c, lambda room, me: room.ask_to_unmute(me, p.participant_id, p.device)
        )

    async def _allow_unmute(self, c: Connection, p: DeviceTargetPayload) -> Reply:
        return await self._command(
            c, lambda room, me: room.allow_unmute(me, p.participant_id, p.device)
        )

    async def _remove(self, c: Connection, p: TargetPayload) -> Reply:
        return await self._command(c, lambda room, me: room.remove(me, p.participant_id))

    async def _end_session(self, c: Connection, p: EndSessionPayload) -> Reply:
        return await self._command(c, lambda room, me: room.end_session(me, p.reason))

    async def _set_floor_mode(self, c: Connection, p: SetFloorModePayload) -> Reply:
        return await self._command(c, lambda room, me: room.set_floor_mode(me, p.on))

    async def _give_floor(self, c: Connection, p: GiveFloorPayload) -> Reply:
        return await self._command(
            c, lambda room, me: room.give_floor(me, p.participant_id, p.seconds)
        )

    async def _take_back_floor(self, c: Connection, _: EmptyPayload) -> Reply:
        return await self._command(c, lambda room, me: room.take_back_floor(me))

    async def _yield_floor(self, c: Connection, _: EmptyPayload) -> Reply:
        return await self._command(c, lambda room, me: room.yield_floor(me))

    async def _start_round(self, c: Connection, p: StartRoundPayload) -> Reply:
        seed = secrets.randbits(32)  # the domain shuffles deterministically from it
        return await self._command(
            c,
            lambda room, me: room.start_round(
                me,
                p.order,
                chosen=p.participant_ids,
                turn_seconds=p.turn_seconds,
                shuffle_seed=seed,
            ),
        )

    async def _finish_turn(self, c: Connection, p: FinishTurnPayload) -> Reply:
        return await self._command(c, lambda room, me: room.finish_turn(me, passed=p.passed))

    async def _skip_turn(self, c: Connection, _: EmptyPayload) -> Reply:
        return await self._command(c, lambda room, me: room.skip_turn(me))

    async def _extend_turn(self, c: Connection, p: ExtendTurnPayload) -> Reply:
        return await self._command(c, lambda room, me: room.extend_turn(me, p.seconds))

    async def _end_round(self, c: Connection, _: EmptyPayload) -> Reply:
        return await self._command(c, lambda room, me: room.end_round(me))

    async def _set_ground_rules(self, c: Connection, p: SetGroundRulesPayload) -> Reply:
        return await self._command(c, lambda room, me: room.set_ground_rules(me, p.text))

    async def _set_schedule(self, c: Connection, p: SetSchedulePayload) -> Reply:
        try:
            schedule = Schedule(p.starts_at, p.ends_at, p.hard_end, p.late_cutoff_at)
        except ValueError as error:
            raise SignalingError(ErrorCode.INVALID_PAYLOAD, str(error)) from error
        return await self._command(c, lambda room, me: room.set_schedule(me, schedule))

    async def _get_audit(self, c: Connection, _: EmptyPayload) -> Reply:
        room, participant = self._room_and_participant(c)
        records = room.audit_records(participant.id)
        return {"room_id": room.room_id, "records": plain(records)}

    async def tick(self) -> None:
        """Let time act in every live room (turn timers, the session clock)."""
        for room in self._store:
            events = room.tick()
            if events:
                await self._publish_events(room, events)

    async def end_room_by_operator(self, room: Room, operator_id: str, reason: str) -> None:
        """An operator ends a session; the room records who and why."""
        await self._publish_events(room, room.end_by_operator(operator_id, reason))

    async def apply(self, room: Room, events: list[RoomEvent]) -> None:
        """Deliver events of a command that did not come over Socket.IO (timers, the API)."""
        await self._publish_events(room, events)

    # -- media ------------------------------------------------------------------------

    def _media_for(
        self, connection: Connection, *, publishing: bool
    ) -> tuple[MediaPlane, str, str]:
        room, participant = self._room_and_participant(connection)
        if participant.state is not ParticipantState.ADMITTED:
            raise SignalingError(ErrorCode.NOT_IN_ROOM, "media starts once you are admitted")
        if publishing and participant.role is Role.OBSERVER:
            raise SignalingError(ErrorCode.PERMISSION_DENIED, "observers do not publish media")
        if self._media is None:
            raise SignalingError(ErrorCode.MEDIA_UNAVAILABLE, "this server relays no media")
        return self._media, room.room_id, participant.id

    async def _publish(self, c: Connection, p: PublishPayload) -> Reply:
        media, room_id, me = self._media_for(c, publishing=True)
        answer = await media.publish(room_id, me, SessionDescription(p.sdp, p.type))
        room = self._store.get(room_id)
        if room is not None:
            self._sync_forwarding(room)
        return {"sdp": answer.sdp, "type": answer.type}

    async def _subscribe(self, c: Connection, _: EmptyPayload) -> Reply:
        media, room_id, me = self._media_for(c, publishing=False)
        await media.subscribe(room_id, me)
        return {}

    async def _subscriber_answer(self, c: Connection, p: SubscriberAnswerPayload) -> Reply:
        media, room_id, me = self._media_for(c, publishing=False)
        answer = SessionDescription(p.sdp, p.type)
        await media.accept_subscriber_answer(room_id, me, answer, p.revision)
        return {}

    async def _ice_candidate(self, c: Connection, p: IceCandidatePayload) -> Reply:
        media, room_id, me = self._media_for(c, publishing=False)
        candidate = IceCandidate(p.candidate, p.sdp_mid, p.sdp_mline_index)
        await media.add_ice_candidate(room_id, me, p.leg, candidate)
        return {}

    # MediaSignals: what the media plane tells us.

    async def send_subscriber_offer(
        self,
        room_id: str,
        participant_id: str,
        offer: SessionDescription,
        revision: int,
        tracks: list[ForwardedTrack],
    ) -> None:
        sid = self._sid_of.get((room_id, participant_id))
        if sid is None:
            return
        payload = {
            "sdp": offer.sdp,
            "type": offer.type,
            "revision": revision,
            "tracks": plain(tracks),
        }
        await self._sio.emit(ServerEvent.SUBSCRIBER_OFFER.value, payload, to=sid)

    def speaking_changed(self, room_id: str, participant_id: str, speaking: bool) -> None:
        room = self._store.get(room_id)
        if room is None:
            return
        events = room.speaking_changed(participant_id, speaking)
        if events:
            self._spawn(self._publish_events(room, events))

    # -- delivery -----------------------------------------------------------------------

    async def _publish_events(
        self,
        room: Room,
        events: list[RoomEvent],
        *,
        caller: str | None = None,
        skip_snapshot_for: str | None = None,
    ) -> None:
        # Deliver a room's events in the order its commands ran: commands run without
        # awaiting, and this lock is taken before the first await of the delivery.
        async with self._delivery_lock(room.room_id):
            await self._deliver(room, events, caller=caller, skip_snapshot_for=skip_snapshot_for)

    def _delivery_lock(self, room_id: str) -> asyncio.Lock:
        lock = self._delivery_locks.get(room_id)
        if lock is None:
            lock = self._delivery_locks[room_id] = asyncio.Lock()
        return lock

    async def _deliver(
        self,
        room: Room,
        events: list[RoomEvent],
        *,
        caller: str | None,
        skip_snapshot_for: str | None,
    ) -> None:
        for event in events:
            name, payload = encode_event(event)
            for sid in self._audience_sids(room, event.audience, event.also_to):
                pid = self._connections[sid].participant_id
                if (
                    isinstance(event, ParticipantAdmitted)
                    and pid == event.participant.participant_id
                ):
                    if pid != skip_snapshot_for:
                        snapshot = encode_snapshot(room.snapshot_for(pid))
                        await self._sio.emit(ServerEvent.ROOM_SNAPSHOT.value, snapshot, to=sid)
                    continue
                await self._sio.emit(name.value, payload, to=sid)
        await self._settle_departures(room, events, caller)
        self._sync_forwarding(room)

    async def _settle_departures(
        self, room: Room, events: Iterable[RoomEvent], caller: str | None
    ) -> None:
        """Close the media of whoever is gone, and the connections of whoever may not stay."""
        if any(isinstance(event, SessionEnded) for event in events):
            self._observer.session_ended(room)
            if self._media is not None:
                await self._media.close_room(room.room_id)
            for key in [k for k in self._forwarding if k[0] == room.room_id]:
                del self._forwarding[key]
            for sid in self._room_sids(room.room_id):
                await self._drop(sid, keep_open=sid == caller)
            return
        barred = {
            event.participant_id
            for event in events
            if isinstance(event, ParticipantLeft)
            and event.reason in (LeaveReason.REMOVED, LeaveReason.DENIED)
        }
        for (room_id, pid), sid in list(self._sid_of.items()):
            if room_id != room.room_id or room.is_present(pid):
                continue
            if self._media is not None:
                await self._media.remove_participant(room_id, pid)
            self._forwarding.pop((room_id, pid), None)
            if pid in barred:
                await self._drop(sid, keep_open=sid == caller)
            else:
                self._unbind_sid(sid)

    async def _drop(self, sid: str, *, keep_open: bool) -> None:
        """Unbind a connection from its room and close it. The connection whose command
        caused this stays open (unbound) so its ack still arrives; its client closes it."""
        connection = self._connections.get(sid)
        if connection is None:
            return
        room_id, pid = connection.room_id, connection.participant_id
        self._unbind(connection)
        if keep_open:
            return
        log.info("connection closed by server", extra={"room_id": room_id, "participant_id": pid})
        await self._sio.disconnect(sid)

    def _sync_forwarding(self, room: Room) -> None:
        """Tell the media plane what each publisher may send, when that changes."""
        if self._media is None:
            return
        for participant in room.admitted():
            key = (room.room_id, participant.id)
            permission = ForwardingPermission(
                audio=room.may_be_heard(participant.id), video=room.may_be_seen(participant.id)
            )
            if self._forwarding.get(key) != permission:
                self._forwarding[key] = permission
                self._media.set_forwarding(room.room_id, participant.id, permission)

    def _audience_sids(self, room: Room, audience: Audience, also_to: str | None) -> list[str]:
        sids: list[str] = []
        for sid in self._room_sids(room.room_id):
            pid = self._connections[sid].participant_id
            if pid == also_to or (pid is not None and _in_audience(room, pid, audience)):
                sids.append(sid)
        return sids

    def _room_sids(self, room_id: str) -> list[str]:
        return [sid for (rid, _), sid in self._sid_of.items() if rid == room_id]

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

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
        sids = [
            sid
            for (rid, pid), sid in self._sid_of.items()
            if rid == room_id and _in_audience(room, pid, Audience.FACILITATORS)
        ]
        payload = {"participant_id": participant_id, "problem": problem.value}
        for sid in sids:
            self._spawn(self._sio.emit(ServerEvent.CONNECTION_PROBLEM.value, payload, to=sid))


def _in_audience(room: Room, participant_id: str, audience: Audience) -> bool:
    if audience is Audience.EVERYONE:
        return True
    if audience is Audience.NOBODY or not room.is_present(participant_id):
        return False
    participant = room.participant(participant_id)
    if participant.state is not ParticipantState.ADMITTED:
        return False
    return audience is Audience.ROOM or participant.role.facilitates


def _ids(connection: Connection) -> dict[str, str | None]:
    return {"room_id": connection.room_id, "participant_id": connection.participant_id}


def _describe(error: ValidationError) -> str:
    problems = []
    for problem in error.errors(include_url=False, include_input=False)[:3]:
        where = ".".join(str(part) for part in problem["loc"]) or "payload"
        problems.append(f"{where}: {problem['msg']}")
    return "; ".join(problems)
