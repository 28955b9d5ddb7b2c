"""Roles and the one table that says which role may run which command."""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType
from typing import Final

from rooms.errors import PermissionDenied


class Role(StrEnum):
    FACILITATOR = "facilitator"
    COFACILITATOR = "cofacilitator"
    MEMBER = "member"
    OBSERVER = "observer"

    @property
    def facilitates(self) -> bool:
        return self in FACILITATING_ROLES

    @property
    def rank(self) -> int:
        """Who may act on whom: a moderation command needs a rank at least the target's."""
        return _RANK[self]


FACILITATING_ROLES: Final = frozenset({Role.FACILITATOR, Role.COFACILITATOR})
_RANK: Final = MappingProxyType(
    {Role.FACILITATOR: 3, Role.COFACILITATOR: 2, Role.MEMBER: 1, Role.OBSERVER: 0}
)


class Command(StrEnum):
    LEAVE = "leave"
    SET_OWN_MEDIA = "set_own_media"
    ANSWER_UNMUTE_REQUEST = "answer_unmute_request"
    RAISE_HAND = "raise_hand"
    LOWER_HAND = "lower_hand"
    SEND_CHAT = "send_chat"
    SEND_CHAT_TO_FACILITATORS = "send_chat_to_facilitators"
    ACCEPT_GROUND_RULES = "accept_ground_rules"
    YIELD_FLOOR = "yield_floor"
    FINISH_TURN = "finish_turn"
    REQUEST_CHECK_IN = "request_check_in"
    SHARE_SCREEN = "share_screen"

    ADMIT = "admit"
    DENY = "deny"
    ADMIT_ALL = "admit_all"
    SET_AUTO_ADMIT = "set_auto_admit"
    MUTE = "mute"
    MUTE_ALL = "mute_all"
    ASK_TO_UNMUTE = "ask_to_unmute"
    ALLOW_UNMUTE = "allow_unmute"
    SET_SELF_UNMUTE = "set_self_unmute"
    REMOVE = "remove"
    LOCK = "lock"
    SET_CHAT_ENABLED = "set_chat_enabled"
    LOWER_HAND_OF_OTHER = "lower_hand_of_other"
    GIVE_FLOOR = "give_floor"
    TAKE_BACK_FLOOR = "take_back_floor"
    SET_FLOOR_MODE = "set_floor_mode"
    RUN_ROUND = "run_round"
    VIEW_TALK_TIME = "view_talk_time"
    VIEW_AUDIT = "view_audit"
    SET_SCHEDULE = "set_schedule"
    ACKNOWLEDGE_CHECK_IN = "acknowledge_check_in"
    SPOTLIGHT = "spotlight"
    MANAGE_SCREEN_SHARE = "manage_screen_share"
    MANAGE_SIDE_ROOMS = "manage_side_rooms"

    SET_GROUND_RULES = "set_ground_rules"
    END_SESSION = "end_session"


_EVERYONE: Final = frozenset(Role)
_SPEAKERS: Final = frozenset({Role.FACILITATOR, Role.COFACILITATOR, Role.MEMBER})
_LEAD: Final = frozenset({Role.FACILITATOR})
# Who a facilitator looks after: the people who may ask them, privately, to check in.
_CARED_FOR: Final = frozenset({Role.MEMBER, Role.OBSERVER})

PERMISSIONS: Final = MappingProxyType(
    {
        Command.LEAVE: _EVERYONE,
        Command.SET_OWN_MEDIA: _SPEAKERS,
        Command.ANSWER_UNMUTE_REQUEST: _SPEAKERS,
        Command.RAISE_HAND: _SPEAKERS,
        Command.LOWER_HAND: _SPEAKERS,
        Command.SEND_CHAT: _SPEAKERS,
        Command.SEND_CHAT_TO_FACILITATORS: _EVERYONE,
        Command.ACCEPT_GROUND_RULES: _EVERYONE,
        Command.YIELD_FLOOR: _SPEAKERS,
        Command.FINISH_TURN: _SPEAKERS,
        Command.REQUEST_CHECK_IN: _CARED_FOR,
        Command.SHARE_SCREEN: _SPEAKERS,
        Command.ADMIT: FACILITATING_ROLES,
        Command.DENY: FACILITATING_ROLES,
        Command.ADMIT_ALL: FACILITATING_ROLES,
        Command.SET_AUTO_ADMIT: FACILITATING_ROLES,
        Command.MUTE: FACILITATING_ROLES,
        Command.MUTE_ALL: FACILITATING_ROLES,
        Command.ASK_TO_UNMUTE: FACILITATING_ROLES,
        Command.ALLOW_UNMUTE: FACILITATING_ROLES,
        Command.SET_SELF_UNMUTE: FACILITATING_ROLES,
        Command.REMOVE: FACILITATING_ROLES,
        Command.LOCK: FACILITATING_ROLES,
        Command.SET_CHAT_ENABLED: FACILITATING_ROLES,
        Command.LOWER_HAND_OF_OTHER: FACILITATING_ROLES,
        Command.GIVE_FLOOR: FACILITATING_ROLES,
        Command.TAKE_BACK_FLOOR: FACILITATING_ROLES,
        Command.SET_FLOOR_MODE: FACILITATING_ROLES,
        Command.RUN_ROUND: FACILITATING_ROLES,
        Command.VIEW_TALK_TIME: FACILITATING_ROLES,
        Command.VIEW_AUDIT: FACILITATING_ROLES,
        Command.SET_SCHEDULE: FACILITATING_ROLES,
        Command.ACKNOWLEDGE_CHECK_IN: FACILITATING_ROLES,
        Command.SPOTLIGHT: FACILITATING_ROLES,
        Command.MANAGE_SCREEN_SHARE: FACILITATING_ROLES,
        Command.MANAGE_SIDE_ROOMS: FACILITATING_ROLES,
        # Only the lead facilitator: these change the contract of the whole session.
        Command.SET_GROUND_RULES: _LEAD,
        Command.END_SESSION: _LEAD,
    }
)


def check_permission(role: Role, command: Command) -> None:
    if role not in PERMISSIONS[command]:
        raise PermissionDenied(f"a {role} may not {command.replace('_', ' ')}")
