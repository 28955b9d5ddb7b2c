"""The protocol's client events, one row each: the payload's schema, who may send
it, and what it runs. Dispatch reads this table and nothing else; so do the
command-matrix test and the test that holds docs/protocol.md's table to it.

Most events run one room command: ``(room, my participant id, payload) -> events``.
The few that are more than a room command (joining, leaving, the audit, media)
name a method of the session (``SessionActions``).

A new facilitator command needs its domain method, one row here, and its line in
docs/protocol.md.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Generic, Protocol, TypeVar

from rooms import PERMISSIONS, Command, Role, Room
from rooms.events import RoomEvent
from rooms.schedule import Schedule
from signaling.connections import Connection
from signaling.errors import ErrorCode, SignalingError
from signaling.event_names import ClientEvent
from signaling.schemas import (
    AllowScreenSharePayload,
    AnswerUnmuteRequestPayload,
    CloseSideRoomPayload,
    DeviceTargetPayload,
    EmptyPayload,
    EndSessionPayload,
    ExtendTurnPayload,
    FinishTurnPayload,
    GiveFloorPayload,
    IceCandidatePayload,
    JoinPayload,
    LowerHandPayload,
    MoveToSideRoomPayload,
    OpenSideRoomPayload,
    Payload,
    PublishPayload,
    ReportViewPayload,
    SendChatPayload,
    SetFloorModePayload,
    SetGroundRulesPayload,
    SetMediaPayload,
    SetSchedulePayload,
    StartRoundPayload,
    StopScreenSharePayload,
    SubscriberAnswerPayload,
    TargetPayload,
    UpdateSettingsPayload,
)

Reply = dict[str, Any]
P = TypeVar("P", bound=Payload)

_LETTERS: Final = MappingProxyType(
    {Role.FACILITATOR: "F", Role.COFACILITATOR: "C", Role.MEMBER: "M", Role.OBSERVER: "O"}
)


@dataclass(frozen=True, slots=True)
class Senders:
    """Who may send an event: the roles of the domain permission that decides it (the
    room checks it again), narrowed by a condition the room also enforces."""

    permission: Command | None = None  # None: every role
    condition: str = ""

    @property
    def roles(self) -> frozenset[Role]:
        return PERMISSIONS[self.permission] if self.permission is not None else frozenset(Role)

    def describe(self) -> str:
        """As docs/protocol.md's "who" column says it."""
        roles = self.roles
        who = (
            "anyone"
            if roles == frozenset(Role)
            else " ".join(_LETTERS[r] for r in Role if r in roles)
        )
        return f"{who} ({self.condition})" if self.condition else who


class SessionActions(Protocol):
    """What the signaling session itself does for the events that are more than a
    room command."""

    async def join(self, connection: Connection, payload: JoinPayload) -> Reply: ...

    async def leave(self, connection: Connection, payload: EmptyPayload) -> Reply: ...

    async def get_audit(self, connection: Connection, payload: EmptyPayload) -> Reply: ...

    async def publish(self, connection: Connection, payload: PublishPayload) -> Reply: ...

    async def subscribe(self, connection: Connection, payload: EmptyPayload) -> Reply: ...

    async def subscriber_answer(
        self, connection: Connection, payload: SubscriberAnswerPayload
    ) -> Reply: ...

    async def ice_candidate(
        self, connection: Connection, payload: IceCandidatePayload
    ) -> Reply: ...

    async def refresh_ice_servers(self, connection: Connection, payload: EmptyPayload) -> Reply: ...
    async def restart_media(self, connection: Connection, payload: EmptyPayload) -> Reply: ...

    async def report_view(self, connection: Connection, payload: ReportViewPayload) -> Reply: ...


RoomCommand = Callable[[Room, str, P], list[RoomEvent]]
SessionAction = Callable[[SessionActions, Connection, P], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Route(Generic[P]):
    event: ClientEvent
    payload: type[P]
    senders: Senders
    command: RoomCommand[P] | None = None  # or:
    action: SessionAction[P] | None = None
    needs_join: bool = True


def _update_settings(room: Room, me: str, p: UpdateSettingsPayload) -> list[RoomEvent]:
    # All share one set of roles, so either all apply or the first refuses.
    events: list[RoomEvent] = []
    if p.locked is not None:
        events += room.lock(me, p.locked)
    if p.auto_admit is not None:
        events += room.set_auto_admit(me, p.auto_admit)
    if p.self_unmute_allowed is not None:
        events += room.set_self_unmute(me, p.self_unmute_allowed)
    if p.chat_enabled is not None:
        events += room.set_chat_enabled(me, p.chat_enabled)
    if p.spotlight_follows_floor is not None:
        events += room.set_spotlight_follows_floor(me, p.spotlight_follows_floor)
    if p.takeover_allowed is not None:
        events += room.set_takeover_allowed(me, p.takeover_allowed)
    return events[-1:]  # each carries the whole settings; the last is the newest


def _start_round(room: Room, me: str, p: StartRoundPayload) -> list[RoomEvent]:
    return room.start_round(
        me,
        p.order,
        chosen=p.participant_ids,
        turn_seconds=p.turn_seconds,
        shuffle_seed=secrets.randbits(32),  # the domain shuffles deterministically from it
    )


def _set_schedule(room: Room, me: str, p: SetSchedulePayload) -> list[RoomEvent]:
    try:
        schedule = Schedule(p.starts_at, p.ends_at, p.hard_end, p.late_cutoff_at)
    except ValueError as error:
        raise SignalingError(ErrorCode.INVALID_PAYLOAD, str(error)) from error
    return room.set_schedule(me, schedule)


_ROUTES: Final[tuple[Route[Any], ...]] = (
    Route(
        ClientEvent.JOIN,
        JoinPayload,
        Senders(condition="with a valid token"),
        action=lambda s, c, p: s.join(c, p),
        needs_join=False,
    ),
    Route(
        ClientEvent.LEAVE,
        EmptyPayload,
        Senders(Command.LEAVE),
        action=lambda s, c, p: s.leave(c, p),
    ),
    Route(
        ClientEvent.ACCEPT_GROUND_RULES,
        EmptyPayload,
        Senders(Command.ACCEPT_GROUND_RULES),
        lambda room, me, p: room.accept_ground_rules(me),
    ),
    Route(
        ClientEvent.SET_MEDIA,
        SetMediaPayload,
        Senders(Command.SET_OWN_MEDIA),
        lambda room, me, p: room.set_own_media(me, p.device, p.on),
    ),
    Route(
        ClientEvent.ANSWER_UNMUTE_REQUEST,
        AnswerUnmuteRequestPayload,
        Senders(Command.ANSWER_UNMUTE_REQUEST),
        lambda room, me, p: room.answer_unmute_request(me, p.device, p.accept),
    ),
    Route(
        ClientEvent.RAISE_HAND,
        EmptyPayload,
        Senders(Command.RAISE_HAND),
        lambda room, me, p: room.raise_hand(me),
    ),
    Route(
        ClientEvent.LOWER_HAND,
        LowerHandPayload,
        Senders(Command.LOWER_HAND),
        lambda room, me, p: room.lower_hand(me, p.participant_id),
    ),
    Route(
        ClientEvent.SEND_CHAT,
        SendChatPayload,
        Senders(Command.SEND_CHAT, "to facilitators: anyone admitted"),
        lambda room, me, p: room.send_chat(me, p.text, to_facilitators=p.to_facilitators),
    ),
    Route(
        ClientEvent.REQUEST_CHECK_IN,
        EmptyPayload,
        Senders(Command.REQUEST_CHECK_IN),
        lambda room, me, p: room.request_check_in(me),
    ),
    Route(
        ClientEvent.CANCEL_CHECK_IN,
        EmptyPayload,
        Senders(Command.REQUEST_CHECK_IN),
        lambda room, me, p: room.cancel_check_in(me),
    ),
    Route(
        ClientEvent.START_SCREEN_SHARE,
        EmptyPayload,
        Senders(Command.SHARE_SCREEN, "members: when a facilitator allows it"),
        lambda room, me, p: room.start_screen_share(me),
    ),
    Route(
        ClientEvent.STOP_SCREEN_SHARE,
        StopScreenSharePayload,
        Senders(Command.SHARE_SCREEN, "someone else's: F C"),
        lambda room, me, p: room.stop_screen_share(me, p.participant_id),
    ),
    Route(
        ClientEvent.ADMIT,
        TargetPayload,
        Senders(Command.ADMIT),
        lambda room, me, p: room.admit(me, p.participant_id),
    ),
    Route(
        ClientEvent.DENY,
        TargetPayload,
        Senders(Command.DENY),
        lambda room, me, p: room.deny(me, p.participant_id),
    ),
    Route(
        ClientEvent.ADMIT_ALL,
        EmptyPayload,
        Senders(Command.ADMIT_ALL),
        lambda room, me, p: room.admit_all(me),
    ),
    Route(
        ClientEvent.UPDATE_SETTINGS, UpdateSettingsPayload, Senders(Command.LOCK), _update_settings
    ),
    Route(
        ClientEvent.MUTE,
        DeviceTargetPayload,
        Senders(Command.MUTE),
        lambda room, me, p: room.mute(me, p.participant_id, p.device),
    ),
    Route(
        ClientEvent.MUTE_ALL,
        EmptyPayload,
        Senders(Command.MUTE_ALL),
        lambda room, me, p: room.mute_all(me),
    ),
    Route(
        ClientEvent.ASK_TO_UNMUTE,
        DeviceTargetPayload,
        Senders(Command.ASK_TO_UNMUTE),
        lambda room, me, p: room.ask_to_unmute(me, p.participant_id, p.device),
    ),
    Route(
        ClientEvent.ALLOW_UNMUTE,
        DeviceTargetPayload,
        Senders(Command.ALLOW_UNMUTE),
        lambda room, me, p: room.allow_unmute(me, p.participant_id, p.device),
    ),
    Route(
        ClientEvent.REMOVE,
        TargetPayload,
        Senders(Command.REMOVE, "not on a facilitator of the same rank or above"),
        lambda room, me, p: room.remove(me, p.participant_id),
    ),
    Route(
        ClientEvent.END_SESSION,
        EndSessionPayload,
        Senders(Command.END_SESSION),
        lambda room, me, p: room.end_session(me, p.reason),
    ),
    Route(
        ClientEvent.SET_FLOOR_MODE,
        SetFloorModePayload,
        Senders(Command.SET_FLOOR_MODE),
        lambda room, me, p: room.set_floor_mode(me, p.on),
    ),
    Route(
        ClientEvent.GIVE_FLOOR,
        GiveFloorPayload,
        Senders(Command.GIVE_FLOOR),
        lambda room, me, p: room.give_floor(me, p.participant_id, p.seconds),
    ),
    Route(
        ClientEvent.TAKE_BACK_FLOOR,
        EmptyPayload,
        Senders(Command.TAKE_BACK_FLOOR),
        lambda room, me, p: room.take_back_floor(me),
    ),
    Route(
        ClientEvent.YIELD_FLOOR,
        EmptyPayload,
        Senders(Command.YIELD_FLOOR, "the floor holder"),
        lambda room, me, p: room.yield_floor(me),
    ),
    Route(ClientEvent.START_ROUND, StartRoundPayload, Senders(Command.RUN_ROUND), _start_round),
    Route(
        ClientEvent.FINISH_TURN,
        FinishTurnPayload,
        Senders(Command.FINISH_TURN, "the current speaker"),
        lambda room, me, p: room.finish_turn(me, passed=p.passed),
    ),
    Route(
        ClientEvent.SKIP_TURN,
        EmptyPayload,
        Senders(Command.RUN_ROUND),
        lambda room, me, p: room.skip_turn(me),
    ),
    Route(
        ClientEvent.EXTEND_TURN,
        ExtendTurnPayload,
        Senders(Command.RUN_ROUND),
        lambda room, me, p: room.extend_turn(me, p.seconds),
    ),
    Route(
        ClientEvent.END_ROUND,
        EmptyPayload,
        Senders(Command.RUN_ROUND),
        lambda room, me, p: room.end_round(me),
    ),
    Route(
        ClientEvent.SET_GROUND_RULES,
        SetGroundRulesPayload,
        Senders(Command.SET_GROUND_RULES),
        lambda room, me, p: room.set_ground_rules(me, p.text),
    ),
    Route(
        ClientEvent.SET_SCHEDULE, SetSchedulePayload, Senders(Command.SET_SCHEDULE), _set_schedule
    ),
    Route(
        ClientEvent.GET_AUDIT,
        EmptyPayload,
        Senders(Command.VIEW_AUDIT),
        action=lambda s, c, p: s.get_audit(c, p),
    ),
    Route(
        ClientEvent.ACKNOWLEDGE_CHECK_IN,
        TargetPayload,
        Senders(Command.ACKNOWLEDGE_CHECK_IN),
        lambda room, me, p: room.acknowledge_check_in(me, p.participant_id),
    ),
    Route(
        ClientEvent.SPOTLIGHT,
        TargetPayload,
        Senders(Command.SPOTLIGHT),
        lambda room, me, p: room.spotlight(me, p.participant_id),
    ),
    Route(
        ClientEvent.CLEAR_SPOTLIGHT,
        EmptyPayload,
        Senders(Command.SPOTLIGHT),
        lambda room, me, p: room.clear_spotlight(me),
    ),
    Route(
        ClientEvent.ALLOW_SCREEN_SHARE,
        AllowScreenSharePayload,
        Senders(Command.MANAGE_SCREEN_SHARE),
        lambda room, me, p: room.allow_screen_share(me, p.participant_id, p.allowed),
    ),
    Route(
        ClientEvent.OPEN_SIDE_ROOM,
        OpenSideRoomPayload,
        Senders(Command.MANAGE_SIDE_ROOMS),
        lambda room, me, p: room.open_side_room(me, p.participant_ids, p.seconds),
    ),
    Route(
        ClientEvent.MOVE_TO_SIDE_ROOM,
        MoveToSideRoomPayload,
        Senders(Command.MANAGE_SIDE_ROOMS),
        lambda room, me, p: room.move_to_side_room(me, p.participant_id, p.side_room_id),
    ),
    Route(
        ClientEvent.CLOSE_SIDE_ROOM,
        CloseSideRoomPayload,
        Senders(Command.MANAGE_SIDE_ROOMS),
        lambda room, me, p: room.close_side_room(me, p.side_room_id),
    ),
    Route(
        ClientEvent.BRING_EVERYONE_BACK,
        EmptyPayload,
        Senders(Command.MANAGE_SIDE_ROOMS),
        lambda room, me, p: room.bring_everyone_back(me),
    ),
    Route(
        ClientEvent.PUBLISH,
        PublishPayload,
        Senders(Command.SET_OWN_MEDIA, "admitted"),
        action=lambda s, c, p: s.publish(c, p),
    ),
    Route(
        ClientEvent.SUBSCRIBE,
        EmptyPayload,
        Senders(condition="admitted"),
        action=lambda s, c, p: s.subscribe(c, p),
    ),
    Route(
        ClientEvent.SUBSCRIBER_ANSWER,
        SubscriberAnswerPayload,
        Senders(condition="admitted"),
        action=lambda s, c, p: s.subscriber_answer(c, p),
    ),
    Route(
        ClientEvent.ICE_CANDIDATE,
        IceCandidatePayload,
        Senders(condition="admitted"),
        action=lambda s, c, p: s.ice_candidate(c, p),
    ),
    Route(
        ClientEvent.REFRESH_ICE_SERVERS,
        EmptyPayload,
        Senders(),
        action=lambda s, c, p: s.refresh_ice_servers(c, p),
    ),
    Route(
        ClientEvent.RESTART_MEDIA,
        EmptyPayload,
        Senders(condition="admitted"),
        action=lambda s, c, p: s.restart_media(c, p),
    ),
    Route(
        ClientEvent.REPORT_VIEW,
        ReportViewPayload,
        Senders(condition="admitted"),
        action=lambda s, c, p: s.report_view(c, p),
    ),
)

ROUTES: Final[Mapping[ClientEvent, Route[Any]]] = MappingProxyType({r.event: r for r in _ROUTES})
