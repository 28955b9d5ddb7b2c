"""The check-in request and the spotlight over real sockets: who receives what."""

from __future__ import annotations

import pytest

from rooms import Role
from server.app_keys import MONITOR
from tests.conftest import Client, ClientFactory, RunningServer, joined
from tests.server.monitoring.test_operator import get, operator_token

ROOM = "thursday-group"


async def a_group(connect: ClientFactory, server: RunningServer) -> dict[str, Client]:
    fac, _ = await joined(connect, server, ROOM, Role.FACILITATOR, "Fay")
    await fac.call("update_settings", {"auto_admit": True})
    people = {"fac": fac}
    for key, role, name in (
        ("co", Role.COFACILITATOR, "Cole"),
        ("ana", Role.MEMBER, "Ana"),
        ("ben", Role.MEMBER, "Ben"),
        ("obs", Role.OBSERVER, "Olu"),
    ):
        people[key], _ = await joined(connect, server, ROOM, role, name)
    await fac.call("update_settings", {"auto_admit": False})
    return people


async def after_the_room_hears(people: dict[str, Client], marker: object) -> None:
    """Events reach each connection in the order the room's commands ran: once everyone
    has received ``marker`` (a later spotlight), whatever came before has arrived too."""
    for client in people.values():
        await client.wait_for("spotlight_changed", lambda d: d == {"participant_id": marker})


async def test_a_check_in_reaches_the_facilitators_and_nobody_else(
    server: RunningServer, connect: ClientFactory
) -> None:
    people = await a_group(connect, server)
    ana = people["ana"]
    assert (await ana.call("request_check_in"))["ok"]

    for who in ("fac", "co", "ana"):
        change = await people[who].wait_for("check_in_changed")
        assert change["participant_id"] == ana.participant_id
        assert change["request"]["participant_id"] == ana.participant_id
        assert change["request"]["requested_at"] > 0 and change["acknowledged_by"] is None
    await people["fac"].call("spotlight", {"participant_id": people["ben"].participant_id})
    await after_the_room_hears(people, people["ben"].participant_id)
    for who in ("ben", "obs"):
        assert people[who].received("check_in_changed") == []

    # A snapshot (a reconnect) shows it to the facilitators and to Ana, nobody else.
    _, fac_again = await joined(connect, server, ROOM, Role.COFACILITATOR, "Cole")
    assert [c["participant_id"] for c in fac_again["check_ins"]] == [ana.participant_id]
    _, ben_again = await joined(connect, server, ROOM, Role.MEMBER, "Ben")
    assert ben_again["check_ins"] == []

    # The operator view has no trace of it.
    server.app[MONITOR].sample()
    token = operator_token(server)
    _, listing = await get(server, "/api/rooms", token)
    _, detail = await get(server, f"/api/rooms/{listing['rooms'][0]['room_ref']}", token)
    assert "check" not in (str(listing) + str(detail)).lower()

    # A facilitator acknowledges: Ana is told who saw it; it is closed for everyone.
    fac = people["fac"]
    assert (await fac.call("acknowledge_check_in", {"participant_id": ana.participant_id}))["ok"]
    closed = {
        "participant_id": ana.participant_id,
        "request": None,
        "acknowledged_by": fac.participant_id,
    }
    await ana.wait_for("check_in_changed", lambda d: d == closed)
    audit = await fac.call("get_audit")
    actions = [(r["actor_id"], r["target_id"], r["action"]) for r in audit["records"]]
    assert (ana.participant_id, None, "check_in_requested") in actions
    assert (fac.participant_id, ana.participant_id, "check_in_acknowledged") in actions


async def test_check_in_refusals_change_nothing(
    server: RunningServer, connect: ClientFactory
) -> None:
    people = await a_group(connect, server)
    ana, ben, fac = people["ana"], people["ben"], people["fac"]
    refused = await fac.call("request_check_in")
    assert refused["error"]["code"] == "permission_denied"
    refused = await ben.call("acknowledge_check_in", {"participant_id": ana.participant_id})
    assert refused["error"]["code"] == "permission_denied"
    refused = await fac.call("acknowledge_check_in", {"participant_id": ana.participant_id})
    assert refused["error"]["code"] == "no_pending_request"
    refused = await ana.call("request_check_in", {"urgent": True})
    assert refused["error"]["code"] == "invalid_payload"
    waiting, _ = await joined(connect, server, ROOM, Role.MEMBER, "Wren")
    refused = await waiting.call("request_check_in")
    assert refused["error"]["code"] == "not_in_room"
    assert len(server.room(ROOM).check_ins) == 0
    # The member cancels their own: the facilitators see it close.
    await ana.call("request_check_in")
    assert (await ana.call("cancel_check_in"))["ok"]
    await fac.wait_for(
        "check_in_changed", lambda d: d["request"] is None and d["acknowledged_by"] is None
    )


@pytest.mark.parametrize("follows", [False, True])
async def test_the_spotlight_reaches_the_whole_room(
    server: RunningServer, connect: ClientFactory, follows: bool
) -> None:
    people = await a_group(connect, server)
    fac, ana, ben = people["fac"], people["ana"], people["ben"]
    refused = await ana.call("spotlight", {"participant_id": ana.participant_id})
    assert refused["error"]["code"] == "permission_denied"
    refused = await fac.call("spotlight", {"participant_id": people["obs"].participant_id})
    assert refused["error"]["code"] == "invalid_command"
    refused = await ana.call("update_settings", {"spotlight_follows_floor": True})
    assert refused["error"]["code"] == "permission_denied"
    if follows:
        assert (await fac.call("update_settings", {"spotlight_follows_floor": True}))["ok"]
        await ben.wait_for("settings_changed", lambda d: d["settings"]["spotlight_follows_floor"])
    assert (await fac.call("spotlight", {"participant_id": ana.participant_id}))["ok"]
    await after_the_room_hears(people, ana.participant_id)
    assert (await fac.call("clear_spotlight"))["ok"]
    await after_the_room_hears(people, None)
    assert server.room(ROOM).spotlighted() is None


async def test_screen_sharing_rules_over_the_wire(
    server: RunningServer, connect: ClientFactory
) -> None:
    people = await a_group(connect, server)
    fac, ana, ben = people["fac"], people["ana"], people["ben"]
    refused = await ana.call("start_screen_share")
    assert refused["error"]["code"] == "share_not_allowed"
    refused = await ben.call(
        "allow_screen_share", {"participant_id": ben.participant_id, "allowed": True}
    )
    assert refused["error"]["code"] == "permission_denied"
    assert server.room(ROOM).screen_sharer_id is None

    allowed = {"participant_id": ana.participant_id, "allowed": True}
    assert (await fac.call("allow_screen_share", allowed))["ok"]
    await ana.wait_for("screen_share_permission_changed", lambda d: d == allowed)
    assert (await ana.call("start_screen_share"))["ok"]
    for client in people.values():
        await client.wait_for(
            "screen_share_changed",
            lambda d: d == {"participant_id": ana.participant_id, "stopped_by": None},
        )
    assert people["ben"].received("screen_share_permission_changed") == []
    refused = await fac.call("start_screen_share")
    assert refused["error"]["code"] == "screen_share_busy"
    refused = await ben.call("stop_screen_share", {"participant_id": ana.participant_id})
    assert refused["error"]["code"] == "permission_denied"

    assert (await fac.call("stop_screen_share", {"participant_id": ana.participant_id}))["ok"]
    await ana.wait_for(
        "screen_share_changed",
        lambda d: d == {"participant_id": None, "stopped_by": fac.participant_id},
    )
    refused = await fac.call("publish", {"sdp": "v=0", "type": "offer", "screen_mid": ""})
    assert refused["error"]["code"] == "invalid_payload"


async def test_side_rooms_over_the_wire(server: RunningServer, connect: ClientFactory) -> None:
    people = await a_group(connect, server)
    fac, ana, ben = people["fac"], people["ana"], people["ben"]
    refused = await ana.call("open_side_room", {"participant_ids": [ana.participant_id]})
    assert refused["error"]["code"] == "permission_denied"
    refused = await fac.call("open_side_room", {"participant_ids": []})
    assert refused["error"]["code"] == "invalid_payload"
    assert server.room(ROOM).side_rooms.views() == ()

    aside = [fac.participant_id, ana.participant_id]
    assert (await fac.call("open_side_room", {"participant_ids": aside, "seconds": 300}))["ok"]
    for client in people.values():
        change = await client.wait_for("side_rooms_changed")
        [side] = change["side_rooms"]
        assert side["participant_ids"] == aside and side["side_room_id"] == "side-1"
    assert (await fac.call("move_to_side_room", {"participant_id": fac.participant_id}))["ok"]
    assert (await fac.call("close_side_room", {"side_room_id": "side-1"}))["ok"]
    await ben.wait_for("side_rooms_changed", lambda d: d == {"side_rooms": []})
    refused = await fac.call("close_side_room", {"side_room_id": "side-1"})
    assert refused["error"]["code"] == "invalid_command"
