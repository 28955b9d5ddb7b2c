"""The group-session domain: rooms, roles, the waiting room, the mute model, hands,
chat and the audit trail. Pure: no I/O, and time comes from an injected clock."""

from rooms.audit import AuditRecord, AuditTrail
from rooms.clock import Clock, FixedClock
from rooms.errors import (
    Barred,
    ChatDisabled,
    ConsentRequired,
    InvalidCommand,
    NoPendingRequest,
    NotAdmitted,
    NotInRoom,
    NotWaiting,
    PermissionDenied,
    RoomEnded,
    RoomError,
    RoomFull,
    RoomLocked,
    ScreenShareBusy,
    ShareNotAllowed,
    UnmuteNotAllowed,
)
from rooms.participant import Device, DeviceState, Identity, Participant, ParticipantState
from rooms.roles import FACILITATING_ROLES, PERMISSIONS, Command, Role
from rooms.room import Room, RoomSnapshot
from rooms.store import RoomStore

__all__ = [
    "FACILITATING_ROLES",
    "PERMISSIONS",
    "AuditRecord",
    "AuditTrail",
    "Barred",
    "ChatDisabled",
    "Clock",
    "Command",
    "ConsentRequired",
    "Device",
    "DeviceState",
    "FixedClock",
    "Identity",
    "InvalidCommand",
    "NoPendingRequest",
    "NotAdmitted",
    "NotInRoom",
    "NotWaiting",
    "Participant",
    "ParticipantState",
    "PermissionDenied",
    "Role",
    "Room",
    "RoomEnded",
    "RoomError",
    "RoomFull",
    "RoomLocked",
    "RoomSnapshot",
    "RoomStore",
    "ScreenShareBusy",
    "ShareNotAllowed",
    "UnmuteNotAllowed",
]
