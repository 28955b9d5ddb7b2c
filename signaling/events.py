"""Every Socket.IO event name of the protocol, in one place (docs/protocol.md)."""

from __future__ import annotations

from enum import StrEnum


class ClientEvent(StrEnum):
    """Client -> server. Every one is acknowledged with ``{"ok": ...}``."""

    JOIN = "join"
    LEAVE = "leave"
    ACCEPT_GROUND_RULES = "accept_ground_rules"
    SET_MEDIA = "set_media"
    ANSWER_UNMUTE_REQUEST = "answer_unmute_request"
    RAISE_HAND = "raise_hand"
    LOWER_HAND = "lower_hand"
    SEND_CHAT = "send_chat"

    ADMIT = "admit"
    DENY = "deny"
    ADMIT_ALL = "admit_all"
    UPDATE_SETTINGS = "update_settings"
    MUTE = "mute"
    MUTE_ALL = "mute_all"
    ASK_TO_UNMUTE = "ask_to_unmute"
    ALLOW_UNMUTE = "allow_unmute"
    REMOVE = "remove"
    END_SESSION = "end_session"

    PUBLISH = "publish"
    SUBSCRIBE = "subscribe"
    SUBSCRIBER_ANSWER = "subscriber_answer"
    ICE_CANDIDATE = "ice_candidate"


class ServerEvent(StrEnum):
    """Server -> client."""

    ROOM_SNAPSHOT = "room_snapshot"
    PARTICIPANT_WAITING = "participant_waiting"
    PARTICIPANT_ADMITTED = "participant_admitted"
    PARTICIPANT_LEFT = "participant_left"
    MEDIA_CHANGED = "media_changed"
    UNMUTE_REQUESTED = "unmute_requested"
    UNMUTE_REQUEST_ANSWERED = "unmute_request_answered"
    SETTINGS_CHANGED = "settings_changed"
    HAND_QUEUE_CHANGED = "hand_queue_changed"
    CHAT_MESSAGE = "chat_message"
    SESSION_ENDED = "session_ended"
    SPEAKING_CHANGED = "speaking_changed"
    SUBSCRIBER_OFFER = "subscriber_offer"
    SUPERSEDED = "superseded"
