"""Error codes on the wire. Stable: clients switch on them."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    # the message itself
    UNKNOWN_EVENT = "unknown_event"
    INVALID_PAYLOAD = "invalid_payload"
    NOT_JOINED = "not_joined"
    ALREADY_JOINED = "already_joined"
    INTERNAL_ERROR = "internal_error"
    # the server, not the message: try again in a moment (docs/protocol.md)
    SERVICE_UNAVAILABLE = "service_unavailable"
    SERVER_SHUTTING_DOWN = "server_shutting_down"
    # the room lives on another node: reconnect to ``node_url`` and join there
    WRONG_NODE = "wrong_node"
    # limits (signaling.limits)
    RATE_LIMITED = "rate_limited"
    SERVER_FULL = "server_full"
    # tokens
    INVALID_TOKEN = "invalid_token"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_WRONG_ROOM = "token_wrong_room"
    TOKEN_REVOKED = "token_revoked"
    # the room's rules (rooms.errors)
    PERMISSION_DENIED = "permission_denied"
    ROOM_LOCKED = "room_locked"
    ROOM_FULL = "room_full"
    ROOM_ENDED = "room_ended"
    NOT_IN_ROOM = "not_in_room"
    BARRED = "barred"
    NOT_WAITING = "not_waiting"
    UNMUTE_NOT_ALLOWED = "unmute_not_allowed"
    NO_PENDING_REQUEST = "no_pending_request"
    INVALID_COMMAND = "invalid_command"
    CONSENT_REQUIRED = "consent_required"
    CHAT_DISABLED = "chat_disabled"
    SHARE_NOT_ALLOWED = "share_not_allowed"
    SCREEN_SHARE_BUSY = "screen_share_busy"
    WAITING_ROOM_FULL = "waiting_room_full"
    SEAT_TAKEN = "seat_taken"
    ROOM_ERROR = "room_error"
    # media (signaling.media)
    MEDIA_FAILED = "media_failed"
    INVALID_SDP = "invalid_sdp"
    MEDIA_NOT_READY = "media_not_ready"
    MEDIA_UNAVAILABLE = "media_unavailable"


class SignalingError(Exception):
    """A refusal at the protocol level, before the room is asked."""

    def __init__(
        self, code: ErrorCode, message: str, details: dict[str, object] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}


def error_reply(
    code: str, message: str, details: dict[str, object] | None = None
) -> dict[str, object]:
    """``details``: fields a code documents besides its message (``wrong_node``'s url)."""
    return {"ok": False, "error": {**(details or {}), "code": code, "message": message}}
