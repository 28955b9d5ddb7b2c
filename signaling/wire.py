"""Domain events and snapshots as JSON-ready dicts, under their protocol event names."""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any

from rooms import ParticipantState, RoomSnapshot
from rooms.events import (
    ChatPosted,
    CheckInChanged,
    FloorChanged,
    GroundRulesChanged,
    HandQueueChanged,
    MediaChanged,
    ParticipantAdmitted,
    ParticipantLeft,
    ParticipantReconnecting,
    ParticipantWaiting,
    RoomEvent,
    RoundChanged,
    ScheduleChanged,
    ScreenShareChanged,
    ScreenSharePermissionChanged,
    SeatTakenOver,
    SessionClockWarning,
    SessionEnded,
    SettingsChanged,
    SideRoomsChanged,
    SpeakingChanged,
    SpotlightChanged,
    TalkTimeChanged,
    TurnWarning,
    UnmuteRequestAnswered,
    UnmuteRequested,
)
from signaling.event_names import ServerEvent

# Subclasses (WaitingParticipantLeft, PrivateChatPosted) share their parent's name:
# they differ only in who receives them.
_EVENT_NAMES: tuple[tuple[type[RoomEvent], ServerEvent], ...] = (
    (ParticipantWaiting, ServerEvent.PARTICIPANT_WAITING),
    (ParticipantAdmitted, ServerEvent.PARTICIPANT_ADMITTED),
    (ParticipantLeft, ServerEvent.PARTICIPANT_LEFT),
    (ParticipantReconnecting, ServerEvent.PARTICIPANT_RECONNECTING),
    (MediaChanged, ServerEvent.MEDIA_CHANGED),
    (UnmuteRequested, ServerEvent.UNMUTE_REQUESTED),
    (UnmuteRequestAnswered, ServerEvent.UNMUTE_REQUEST_ANSWERED),
    (SettingsChanged, ServerEvent.SETTINGS_CHANGED),
    (HandQueueChanged, ServerEvent.HAND_QUEUE_CHANGED),
    (ChatPosted, ServerEvent.CHAT_MESSAGE),
    (SessionEnded, ServerEvent.SESSION_ENDED),
    (SpeakingChanged, ServerEvent.SPEAKING_CHANGED),
    (FloorChanged, ServerEvent.FLOOR_CHANGED),
    (RoundChanged, ServerEvent.ROUND_CHANGED),
    (TurnWarning, ServerEvent.TURN_WARNING),
    (TalkTimeChanged, ServerEvent.TALK_TIME_CHANGED),
    (ScheduleChanged, ServerEvent.SCHEDULE_CHANGED),
    (SessionClockWarning, ServerEvent.SESSION_CLOCK_WARNING),
    (GroundRulesChanged, ServerEvent.GROUND_RULES_CHANGED),
    (CheckInChanged, ServerEvent.CHECK_IN_CHANGED),
    (SpotlightChanged, ServerEvent.SPOTLIGHT_CHANGED),
    (ScreenShareChanged, ServerEvent.SCREEN_SHARE_CHANGED),
    (ScreenSharePermissionChanged, ServerEvent.SCREEN_SHARE_PERMISSION_CHANGED),
    (SideRoomsChanged, ServerEvent.SIDE_ROOMS_CHANGED),
    (SeatTakenOver, ServerEvent.SEAT_TAKEN_OVER),
)


def plain(value: Any) -> Any:
    """Dataclasses to dicts, enums to their wire strings, tuples and sets to lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, ParticipantState):
        return value.label
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list | set | frozenset):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def event_name(event: RoomEvent) -> ServerEvent:
    for event_type, name in _EVENT_NAMES:
        if isinstance(event, event_type):
            return name
    raise LookupError(f"no protocol name for {type(event).__name__}")


def encode_event(event: RoomEvent) -> tuple[ServerEvent, dict[str, Any]]:
    payload: dict[str, Any] = plain(event)
    return event_name(event), payload


def encode_snapshot(snapshot: RoomSnapshot) -> dict[str, Any]:
    encoded: dict[str, Any] = plain(snapshot)
    return encoded
