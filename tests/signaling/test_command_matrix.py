"""Every client command for every role, over real sockets: the role's permission
decides between doing it (or a state-related refusal) and `permission_denied`,
and a denied command changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from rooms import PERMISSIONS, Command, Role
from signaling.events import ClientEvent
from tests.conftest import ClientFactory, RunningServer, joined

# The domain command behind each client event (None: no role restriction).
COMMAND_OF: dict[ClientEvent, Command | None] = {
    ClientEvent.LEAVE: Command.LEAVE,
    ClientEvent.ACCEPT_GROUND_RULES: Command.ACCEPT_GROUND_RULES,
    ClientEvent.SET_MEDIA: Command.SET_OWN_MEDIA,
    ClientEvent.ANSWER_UNMUTE_REQUEST: Command.ANSWER_UNMUTE_REQUEST,
    ClientEvent.RAISE_HAND: Command.RAISE_HAND,
    ClientEvent.LOWER_HAND: Command.LOWER_HAND,
    ClientEvent.SEND_CHAT: Command.SEND_CHAT,
    ClientEvent.ADMIT: Command.ADMIT,
    ClientEvent.DENY: Command.DENY,
    ClientEvent.ADMIT_ALL: Command.ADMIT_ALL,
    ClientEvent.UPDATE_SETTINGS: Command.LOCK,
    ClientEvent.MUTE: Command.MUTE,
    ClientEvent.MUTE_ALL: Command.MUTE_ALL,
    ClientEvent.ASK_TO_UNMUTE: Command.ASK_TO_UNMUTE,
    ClientEvent.ALLOW_UNMUTE: Command.ALLOW_UNMUTE,
    ClientEvent.REMOVE: Command.REMOVE,
    ClientEvent.END_SESSION: Command.END_SESSION,
    ClientEvent.SET_FLOOR_MODE: Command.SET_FLOOR_MODE,
    ClientEvent.GIVE_FLOOR: Command.GIVE_FLOOR,
    ClientEvent.TAKE_BACK_FLOOR: Command.TAKE_BACK_FLOOR,
    ClientEvent.YIELD_FLOOR: Command.YIELD_FLOOR,
    ClientEvent.START_ROUND: Command.RUN_ROUND,
    ClientEvent.FINISH_TURN: Command.FINISH_TURN,
    ClientEvent.SKIP_TURN: Command.RUN_ROUND,
    ClientEvent.EXTEND_TURN: Command.RUN_ROUND,
    ClientEvent.END_ROUND: Command.RUN_ROUND,
    ClientEvent.SET_GROUND_RULES: Command.SET_GROUND_RULES,
    ClientEvent.SET_SCHEDULE: Command.SET_SCHEDULE,
    ClientEvent.GET_AUDIT: Command.VIEW_AUDIT,
}
MEDIA_EVENTS = {
    ClientEvent.PUBLISH,
    ClientEvent.SUBSCRIBE,
    ClientEvent.SUBSCRIBER_ANSWER,
    ClientEvent.ICE_CANDIDATE,
}


def payload(event: ClientEvent, target: str, waiting: str) -> dict[str, Any]:
    return {
        ClientEvent.SET_MEDIA: {"device": "microphone", "on": True},
        ClientEvent.ANSWER_UNMUTE_REQUEST: {"accept": True},
        ClientEvent.SEND_CHAT: {"text": "hello"},
        ClientEvent.ADMIT: {"participant_id": waiting},
        ClientEvent.DENY: {"participant_id": waiting},
        ClientEvent.UPDATE_SETTINGS: {"locked": True},
        ClientEvent.MUTE: {"participant_id": target},
        ClientEvent.ASK_TO_UNMUTE: {"participant_id": target, "device": "camera"},
        ClientEvent.ALLOW_UNMUTE: {"participant_id": target},
        ClientEvent.REMOVE: {"participant_id": target},
        ClientEvent.SET_FLOOR_MODE: {"on": True},
        ClientEvent.GIVE_FLOOR: {"participant_id": target},
        ClientEvent.START_ROUND: {"order": "join", "turn_seconds": 60},
        ClientEvent.FINISH_TURN: {"passed": True},
        ClientEvent.EXTEND_TURN: {"seconds": 30},
        ClientEvent.SET_GROUND_RULES: {"text": "Be kind."},
        ClientEvent.SET_SCHEDULE: {"ends_at": 4_000_000_000},
        ClientEvent.PUBLISH: {"sdp": "v=0", "type": "offer"},
        ClientEvent.SUBSCRIBER_ANSWER: {"sdp": "v=0", "type": "answer", "revision": 1},
        ClientEvent.ICE_CANDIDATE: {"leg": "publish", "candidate": ""},
    }.get(event, {})


def test_the_matrix_names_every_event() -> None:
    assert set(COMMAND_OF) | MEDIA_EVENTS | {ClientEvent.JOIN} == set(ClientEvent)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("event", sorted(set(ClientEvent) - {ClientEvent.JOIN}))
async def test_each_command_for_each_role(
    server: RunningServer, connect: ClientFactory, event: ClientEvent, role: Role
) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    await fac.call("update_settings", {"auto_admit": True})
    target, _ = await joined(connect, server, "r1", Role.MEMBER, "Target", microphone=True)
    if role is Role.FACILITATOR:
        actor = fac
    else:
        actor, _ = await joined(connect, server, "r1", role, "Actor")
    await fac.call("update_settings", {"auto_admit": False})
    waiting, _ = await joined(connect, server, "r1", Role.MEMBER, "Waiting")
    room = server.room("r1")
    before = (room.settings, [room.view(p) for p in room.admitted()], len(room.audit))

    reply = await actor.call(
        event.value, payload(event, target.participant_id or "", waiting.participant_id or "")
    )

    command = COMMAND_OF.get(event)
    if command is not None and role not in PERMISSIONS[command]:
        assert reply["ok"] is False and reply["error"]["code"] == "permission_denied", reply
        assert (room.settings, [room.view(p) for p in room.admitted()], len(room.audit)) == before
    elif event in MEDIA_EVENTS:
        expected = (
            "permission_denied"
            if event is ClientEvent.PUBLISH and role is Role.OBSERVER
            else "media_unavailable"
        )
        assert reply["error"]["code"] == expected, reply
    else:
        assert reply["ok"] or reply["error"]["code"] != "permission_denied", reply
