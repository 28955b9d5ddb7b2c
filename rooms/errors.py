"""Why the room refused a command.

Each refusal is its own exception class with a stable ``code``; signaling maps
the code onto the wire unchanged, so the codes are part of the protocol.
"""

from __future__ import annotations


class RoomError(Exception):
    """A command the room refuses. Nothing changed."""

    code = "room_error"


class PermissionDenied(RoomError):
    code = "permission_denied"


class RoomLocked(RoomError):
    code = "room_locked"


class RoomFull(RoomError):
    code = "room_full"


class WaitingRoomFull(RoomError):
    code = "waiting_room_full"


class SeatTaken(RoomError):
    """The room refuses a second connection for someone whose first is still alive."""

    code = "seat_taken"


class RoomEnded(RoomError):
    code = "room_ended"


class NotInRoom(RoomError):
    """The actor or the target is not (or no longer) in the room."""

    code = "not_in_room"


class NotAdmitted(NotInRoom):
    """The target of a moderation command is still in the waiting room. Same code as
    NotInRoom: to the room's members, a waiting person is not in the session."""


class Barred(RoomError):
    """Removed or denied earlier: this participant cannot come back to this session."""

    code = "barred"


class NotWaiting(RoomError):
    code = "not_waiting"


class UnmuteNotAllowed(RoomError):
    """A facilitator holds this device off, or the room does not let members unmute."""

    code = "unmute_not_allowed"


class NoPendingRequest(RoomError):
    code = "no_pending_request"


class InvalidCommand(RoomError):
    """The command does not make sense in the room's current state."""

    code = "invalid_command"


class ConsentRequired(RoomError):
    code = "consent_required"


class ChatDisabled(RoomError):
    code = "chat_disabled"


class ShareNotAllowed(RoomError):
    """A member shares their screen only when a facilitator has let them."""

    code = "share_not_allowed"


class ScreenShareBusy(RoomError):
    """Someone else is sharing their screen: one share at a time."""

    code = "screen_share_busy"
