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

    SET_FLOOR_MODE = "set_floor_mode"
    GIVE_FLOOR = "give_floor"
    TAKE_BACK_FLOOR = "take_back_floor"
    YIELD_FLOOR = "yield_floor"
    START_ROUND = "start_round"
    FINISH_TURN = "finish_turn"
    SKIP_TURN = "skip_turn"
    EXTEND_TURN = "extend_turn"
    END_ROUND = "end_round"
    SET_GROUND_RULES = "set_ground_rules"
    SET_SCHEDULE = "set_schedule"
    GET_AUDIT = "get_audit"

    PUBLISH = "publish"
    SUBSCRIBE = "subscribe"
    SUBSCRIBER_ANSWER = "subscriber_answer"
    ICE_CANDIDATE = "ice_candidate"
    RESTART_MEDIA = "restart_media"


class ServerEvent(StrEnum):
    """Server -> client."""

    ROOM_SNAPSHOT = "room_snapshot"
    PARTICIPANT_WAITING = "participant_waiting"
    PARTICIPANT_ADMITTED = "participant_admitted"
    PARTICIPANT_LEFT = "participant_left"
    PARTICIPANT_RECONNECTING = "participant_reconnecting"
    MEDIA_CHANGED = "media_changed"
    UNMUTE_REQUESTED = "unmute_requested"
    UNMUTE_REQUEST_ANSWERED = "unmute_request_answered"
    SETTINGS_CHANGED = "settings_changed"
    HAND_QUEUE_CHANGED = "hand_queue_changed"
    CHAT_MESSAGE = "chat_message"
    SESSION_ENDED = "session_ended"
    SPEAKING_CHANGED = "speaking_changed"
    FLOOR_CHANGED = "floor_changed"
    ROUND_CHANGED = "round_changed"
    TURN_WARNING = "turn_warning"
    TALK_TIME_CHANGED = "talk_time_changed"
    SCHEDULE_CHANGED = "schedule_changed"
    SESSION_CLOCK_WARNING = "session_clock_warning"
    GROUND_RULES_CHANGED = "ground_rules_changed"
    SUBSCRIBER_OFFER = "subscriber_offer"
    SUPERSEDED = "superseded"
    MEDIA_FAILED = "media_failed"
    SEAT_TAKEN_OVER = "seat_taken_over"
