"""Every client command for every role, over real sockets: the role's permission
decides between doing it (or a state-related refusal) and `permission_denied`,
and a denied command changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from rooms import Role
from signaling.event_names import ClientEvent
from signaling.routes import ROUTES
from tests.conftest import ClientFactory, RunningServer, joined

# Media events answer media_unavailable on a server without a media plane.
MEDIA_EVENTS = {
    ClientEvent.PUBLISH,
    ClientEvent.SUBSCRIBE,
    ClientEvent.SUBSCRIBER_ANSWER,
    ClientEvent.ICE_CANDIDATE,
    ClientEvent.RESTART_MEDIA,
    ClientEvent.REPORT_VIEW,
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
        ClientEvent.ACKNOWLEDGE_CHECK_IN: {"participant_id": target},
        ClientEvent.SPOTLIGHT: {"participant_id": target},
        ClientEvent.ALLOW_SCREEN_SHARE: {"participant_id": target, "allowed": True},
        ClientEvent.OPEN_SIDE_ROOM: {"participant_ids": [target]},
        ClientEvent.MOVE_TO_SIDE_ROOM: {"participant_id": target},
        ClientEvent.CLOSE_SIDE_ROOM: {"side_room_id": "side-1"},
        ClientEvent.REPORT_VIEW: {
            "tiles": [{"participant_id": target, "visible": True, "width": 320, "height": 180}]
        },
    }.get(event, {})


def test_the_route_table_names_every_event_once() -> None:
    assert set(ROUTES) == set(ClientEvent)
    assert all(event is route.event for event, route in ROUTES.items())
    assert all((route.command is None) != (route.action is None) for route in ROUTES.values())


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

    if role not in ROUTES[event].senders.roles:
        assert reply["ok"] is False and reply["error"]["code"] == "permission_denied", reply
        assert (room.settings, [room.view(p) for p in room.admitted()], len(room.audit)) == before
    elif event in MEDIA_EVENTS:
        assert reply["error"]["code"] == "media_unavailable", reply
    else:
        assert reply["ok"] or reply["error"]["code"] != "permission_denied", reply
