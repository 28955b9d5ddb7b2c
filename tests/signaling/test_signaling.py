"""The protocol over real sockets: a real server on an ephemeral port, real clients."""

from __future__ import annotations

import logging
import time

import pytest

from rooms import Role
from server.monitoring.pseudonyms import Pseudonyms
from signaling.tokens import JoinToken, TokenSigner
from tests.conftest import TEST_SECRET, ClientFactory, RunningServer, joined, wait_until


async def test_join_gives_a_snapshot_and_members_wait(
    server: RunningServer, connect: ClientFactory
) -> None:
    fac, snapshot = await joined(connect, server, "r1", Role.FACILITATOR, "Dr Facilitator")
    assert snapshot["you"]["state"] == "admitted"
    assert snapshot["you"]["display_name"] == "Dr Facilitator"
    member, member_snapshot = await joined(connect, server, "r1", Role.MEMBER, "Ana")
    assert member_snapshot["you"]["state"] == "waiting"
    assert member_snapshot["participants"] == []  # the roster is private until admitted
    waiting = await fac.wait_for("participant_waiting")
    assert waiting["participant"]["participant_id"] == member.participant_id
    assert waiting["participant"]["display_name"] == "Ana"


async def test_admission_sends_the_full_snapshot(
    server: RunningServer, connect: ClientFactory
) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    member, _ = await joined(connect, server, "r1", Role.MEMBER, "Ana")
    reply = await fac.call("admit", {"participant_id": member.participant_id})
    assert reply == {"ok": True}
    snapshot = await member.wait_for("room_snapshot")
    assert snapshot["you"]["state"] == "admitted"
    assert {p["display_name"] for p in snapshot["participants"]} == {"Fac", "Ana"}
    admitted = await fac.wait_for("participant_admitted")
    assert admitted["participant"]["participant_id"] == member.participant_id


@pytest.mark.parametrize(
    ("make_token", "code"),
    [
        (lambda s: TokenSigner("w" * 40).mint_join(_token("r1"), time.time()), "invalid_token"),
        (lambda s: s.mint_join(_token("r1", expires_in=-5), time.time()), "token_expired"),
        (lambda s: "not-a-token", "invalid_token"),
    ],
    ids=["wrong-signature", "expired", "garbage"],
)
async def test_bad_tokens_are_refused_and_the_connection_stays(
    server: RunningServer, connect: ClientFactory, make_token: object, code: str
) -> None:
    client = await connect()
    reply = await client.call("join", {"token": make_token(server.signer)})  # type: ignore[operator]
    assert reply["ok"] is False and reply["error"]["code"] == code
    assert reply["error"]["message"]
    assert server.room("r1") is None  # nothing was created
    good = await client.call("join", {"token": server.token("r1", Role.FACILITATOR, "Fac")})
    assert good["ok"]


async def test_a_token_for_another_room_is_refused(
    server: RunningServer, connect: ClientFactory
) -> None:
    client = await connect()
    token = server.token("r2", Role.MEMBER, "Ana")
    reply = await client.call("join", {"token": token, "room_id": "r1"})
    assert reply["error"]["code"] == "token_wrong_room"
    assert server.room("r1") is None and server.room("r2") is None


async def test_a_member_cannot_moderate_and_nothing_changes(
    server: RunningServer, connect: ClientFactory
) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    await fac.call("update_settings", {"auto_admit": True})
    a, _ = await joined(connect, server, "r1", Role.MEMBER, "Ana", microphone=True)
    b, _ = await joined(connect, server, "r1", Role.MEMBER, "Ben")
    room = server.room("r1")
    before = [room.view(p) for p in room.admitted()], room.settings, len(room.audit)
    for event, payload in [
        ("mute", {"participant_id": a.participant_id}),
        ("remove", {"participant_id": a.participant_id}),
        ("update_settings", {"locked": True}),
        ("mute_all", {}),
        ("end_session", {}),
    ]:
        reply = await b.call(event, payload)
        assert reply["error"]["code"] == "permission_denied", (event, reply)
    assert ([room.view(p) for p in room.admitted()], room.settings, len(room.audit)) == before
    assert (await b.call("raise_hand"))["ok"]  # still connected and served


async def test_unknown_events_and_invalid_payloads(
    server: RunningServer, connect: ClientFactory
) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    assert (await fac.call("launch_rockets", {}))["error"]["code"] == "unknown_event"
    for event, payload in [
        ("mute", {"participant_id": 42}),
        ("mute", {"participant_id": "p_x", "device": "toaster"}),
        ("set_media", {"device": "microphone"}),
        ("update_settings", {}),
        ("update_settings", {"colour": "blue"}),
        ("send_chat", "just a string"),
        ("join", {"token": "x"}),
    ]:
        reply = await fac.call(event, payload)
        assert reply["ok"] is False, (event, payload)
        assert reply["error"]["code"] in ("invalid_payload", "already_joined"), reply
    assert (await fac.call("admit", {"participant_id": "p_nobody"}))["error"]["code"] == (
        "not_in_room"
    )
    assert (await fac.call("raise_hand"))["ok"]


async def test_commands_before_joining(server: RunningServer, connect: ClientFactory) -> None:
    client = await connect()
    assert (await client.call("raise_hand"))["error"]["code"] == "not_joined"


async def test_broadcasts_reach_the_room_and_only_the_room(
    server: RunningServer, connect: ClientFactory
) -> None:
    fac1, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac1")
    fac2, _ = await joined(connect, server, "r2", Role.FACILITATOR, "Fac2")
    await fac1.call("update_settings", {"auto_admit": True})
    a, _ = await joined(connect, server, "r1", Role.MEMBER, "Ana", microphone=True)
    other, _ = await joined(connect, server, "r2", Role.MEMBER, "Other")
    await fac1.call("mute", {"participant_id": a.participant_id})
    change = await a.wait_for("media_changed")
    assert change["microphone"] == {"on": False, "held": True} and change["by"]
    await fac1.wait_for("media_changed")
    # r2 heard nothing of r1: not its admission, not its mute.
    assert fac2.received("media_changed") == [] and other.received("media_changed") == []
    assert fac2.received("participant_admitted") == []
    assert fac2.received("settings_changed") == []


async def test_ask_to_unmute_flow(server: RunningServer, connect: ClientFactory) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    await fac.call("update_settings", {"auto_admit": True})
    a, _ = await joined(connect, server, "r1", Role.MEMBER, "Ana", microphone=True)
    b, _ = await joined(connect, server, "r1", Role.MEMBER, "Ben")
    await fac.call("mute", {"participant_id": a.participant_id})
    refused = await a.call("set_media", {"device": "microphone", "on": True})
    assert refused["error"]["code"] == "unmute_not_allowed"
    assert (await fac.call("ask_to_unmute", {"participant_id": a.participant_id}))["ok"]
    request = await a.wait_for("unmute_requested")
    assert request == {
        "participant_id": a.participant_id,
        "device": "microphone",
        "by": fac.participant_id,
    }
    assert b.received("unmute_requested") == []  # a private question
    assert (await a.call("answer_unmute_request", {"accept": True}))["ok"]
    await b.wait_for("media_changed", lambda d: d["microphone"]["on"])
    assert server.room("r1").may_be_heard(a.participant_id)


async def test_remove_disconnects_and_bars(server: RunningServer, connect: ClientFactory) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    await fac.call("update_settings", {"auto_admit": True})
    token = server.token("r1", Role.MEMBER, "Ana")
    a = await connect()
    reply = await a.call("join", {"token": token})
    pid = reply["snapshot"]["you"]["participant_id"]
    assert (await fac.call("remove", {"participant_id": pid}))["ok"]
    left = await a.wait_for("participant_left")
    assert left == {"participant_id": pid, "reason": "removed"}
    await wait_until(lambda: not a.sio.connected, what="the removed member's disconnection")
    again = await connect()
    assert (await again.call("join", {"token": token}))["error"]["code"] == "barred"


async def test_end_session_for_everyone(server: RunningServer, connect: ClientFactory) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    await fac.call("update_settings", {"auto_admit": True})
    a, _ = await joined(connect, server, "r1", Role.MEMBER, "Ana")
    assert (await fac.call("end_session", {"reason": "time"}))["ok"]
    ended = await a.wait_for("session_ended")
    assert ended["ended_by"] == fac.participant_id
    await fac.wait_for("session_ended")
    await wait_until(lambda: not a.sio.connected, what="the member's disconnection")
    late = await connect()
    reply = await late.call("join", {"token": server.token("r1", Role.MEMBER, "Late")})
    assert reply["error"]["code"] == "room_ended"


async def test_a_dropped_connection_keeps_the_place_for_the_grace_period(
    server: RunningServer, connect: ClientFactory
) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    await fac.call("update_settings", {"auto_admit": True})
    a, _ = await joined(connect, server, "r1", Role.MEMBER, "Ana")
    await a.sio.disconnect()
    dropped = await fac.wait_for("participant_reconnecting")
    assert dropped == {"participant_id": a.participant_id, "reconnecting": True}
    assert server.room("r1").is_present(a.participant_id)  # tests/signaling/test_reconnecting.py


async def test_the_newest_connection_of_a_participant_wins(
    server: RunningServer, connect: ClientFactory
) -> None:
    token = server.token("r1", Role.FACILITATOR, "Fac")
    first, second = await connect(), await connect()
    assert (await first.call("join", {"token": token}))["ok"]
    reply = await second.call("join", {"token": token})
    await first.wait_for("superseded")
    await wait_until(lambda: not first.sio.connected, what="the old connection to close")
    assert (await second.call("raise_hand"))["ok"]
    assert server.room("r1").is_present(reply["snapshot"]["you"]["participant_id"])


async def test_private_chat_reaches_only_facilitators(
    server: RunningServer, connect: ClientFactory
) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    await fac.call("update_settings", {"auto_admit": True})
    a, _ = await joined(connect, server, "r1", Role.MEMBER, "Ana")
    b, _ = await joined(connect, server, "r1", Role.MEMBER, "Ben")
    reply = await a.call("send_chat", {"text": "can we talk after?", "to_facilitators": True})
    assert reply["ok"]
    message = await fac.wait_for("chat_message")
    assert message["message"]["text"] == "can we talk after?"
    await a.wait_for("chat_message")
    await b.call("raise_hand")  # a round trip for b, after which any chat would have arrived
    assert b.received("chat_message") == []


async def test_logs_carry_ids_but_never_names_or_tokens(
    server: RunningServer, connect: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = server.token("r1", Role.FACILITATOR, "Zebulon Uniquename")
    client = await connect()
    assert (await client.call("join", {"token": token}))["ok"]
    await client.call("raise_hand")
    await client.sio.disconnect()
    await wait_until(lambda: any(r.getMessage() == "connection lost" for r in caplog.records))
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "Zebulon" not in text and token not in text
    # Ids are the operators' pseudonyms: a room id may be meaningful, a participant id
    # is in that person's link.
    pseudonyms = Pseudonyms(TEST_SECRET)
    pid = server.signer.verify_join(token, time.time()).participant_id
    ids = {
        (getattr(r, "room_id", None), getattr(r, "participant_id", None)) for r in caplog.records
    }
    assert (pseudonyms.room("r1"), pseudonyms.participant("r1", pid)) in ids
    assert "r1" not in {room for room, _ in ids} and pid not in text


def _token(room: str, expires_in: int = 600) -> JoinToken:
    return JoinToken(room, "p_test", "Tess", Role.MEMBER, int(time.time()) + expires_in)
