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
from rooms.record import RECORD_VERSION, RecordError, RoomRecord
from rooms.roles import FACILITATING_ROLES, PERMISSIONS, Command, Role
from rooms.room import Room, RoomSnapshot
from rooms.store import RoomMoved, RoomRecordStore, RoomStore, StoreUnavailable

__all__ = [
    "FACILITATING_ROLES",
    "PERMISSIONS",
    "RECORD_VERSION",
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
    "RecordError",
    "Role",
    "Room",
    "RoomEnded",
    "RoomError",
    "RoomFull",
    "RoomLocked",
    "RoomMoved",
    "RoomRecord",
    "RoomRecordStore",
    "RoomSnapshot",
    "RoomStore",
    "ScreenShareBusy",
    "ShareNotAllowed",
    "StoreUnavailable",
    "UnmuteNotAllowed",
]
