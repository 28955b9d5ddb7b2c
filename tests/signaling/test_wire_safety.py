"""What a hostile client can send over a real Socket.IO connection: names outside the
protocol, reserved names, lax or non-JSON payloads, deep nesting, oversize frames.
Each is refused with a stable code (or the connection closed, for an oversize
frame), changes nothing, logs no traceback, and leaves everyone else served."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from rooms import Role
from server.app_keys import METRICS, SIGNALING, SIO
from signaling.packets import MAX_FRAME_BYTES, MAX_NESTING
from signaling.schemas import MAX_SDP_LENGTH
from tests.conftest import Client, ClientFactory, RunningServer, joined, wait_until

RESERVED_AND_UNKNOWN = [
    "connect",
    "disconnect",
    "connect_error",
    "__disconnect_final",
    "*",
    "message",
    "client_message",
    "",
    "__proto__",
    "launch_rockets",
]


async def raw_call(client: Client, body: str, timeout: float = 5) -> Any:
    """Send a hand-written Socket.IO EVENT frame (``body`` is its JSON part) with an
    acknowledgement id, and return the acknowledgement's data."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[Any] = loop.create_future()

    def acknowledged(*data: Any) -> None:
        if not answer.done():
            answer.set_result(data[0] if data else None)

    ack_id = client.sio._generate_ack_id("/", acknowledged)
    await client.sio.eio.send(f"2{ack_id}{body}")
    return await asyncio.wait_for(answer, timeout)


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


@pytest.mark.parametrize("name", RESERVED_AND_UNKNOWN)
async def test_names_outside_the_protocol_reach_no_handler(
    server: RunningServer, connect: ClientFactory, name: str
) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    reply = await fac.call(name, {})
    assert reply["ok"] is False and reply["error"]["code"] == "unknown_event", reply
    assert (await fac.call("raise_hand"))["ok"]  # still bound and served


async def test_binary_events_are_refused(server: RunningServer, connect: ClientFactory) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    reply = await fac.call("send_chat", {"text": b"bytes"})
    assert reply["error"]["code"] == "invalid_payload", reply
    assert (await fac.call("raise_hand"))["ok"]


async def test_event_names_that_are_not_strings_are_unknown(
    server: RunningServer, connect: ClientFactory
) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    for body in ["[42,{}]", "[null]", "[]", '[["join"],{}]', '{"join":{}}']:
        reply = await raw_call(fac, body)
        assert reply["error"]["code"] in ("unknown_event", "invalid_payload"), (body, reply)
    assert (await fac.call("raise_hand"))["ok"]


async def test_a_waiting_member_replaying_connect_learns_nothing_and_breaks_nothing(
    server: RunningServer, connect: ClientFactory
) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    await fac.call("update_settings", {"auto_admit": True})
    ben, _ = await joined(connect, server, "r1", Role.MEMBER, "Ben")
    await fac.call("update_settings", {"auto_admit": False})
    spy, _ = await joined(connect, server, "r1", Role.MEMBER, "Spy")

    for name in ("connect", "disconnect"):
        assert (await spy.call(name, {}))["error"]["code"] == "unknown_event"
    assert (await fac.call("send_chat", {"text": "what is said here stays here"}))["ok"]
    await joined(connect, server, "r1", Role.MEMBER, "Cleo Newcomer")
    assert (await ben.call("raise_hand"))["ok"]
    await fac.wait_for("hand_queue_changed")
    await ben.wait_for("chat_message")
    await fac.wait_for("participant_waiting", lambda d: d["participant"]["display_name"] != "Spy")
    await spy.call("accept_ground_rules")  # a round trip: anything sent would be here now
    received = {name for name, _ in spy.events}
    assert received <= {"ground_rules_changed", "session_ended"}, spy.events

    # Her going afterwards leaves the room working for everyone.
    await spy.sio.disconnect()
    await wait_until(lambda: server.room("r1").participant(spy.participant_id or "").reconnecting)
    assert (await fac.call("send_chat", {"text": "still here"}))["ok"]
    await ben.wait_for("chat_message", lambda d: d["message"]["text"] == "still here")
    assert (await ben.call("lower_hand"))["ok"]


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("set_media", {"device": "microphone", "on": "off"}),
        ("set_media", {"device": "microphone", "on": 1}),
        ("update_settings", {"chat_enabled": "yes"}),
        ("extend_turn", {"seconds": "30"}),
        ("give_floor", {"seconds": True}),
        ("subscriber_answer", {"sdp": "v=0", "type": "answer", "revision": "1"}),
        ("subscriber_answer", {"sdp": "v=0", "type": "answer", "revision": 1.5}),
        ("mute", {"participant_id": 42}),
        ("set_schedule", {"ends_at": "4000000000"}),
        ("set_schedule", {"ends_at": 1e308}),
        ("set_schedule", {"starts_at": -1}),
        ("extend_turn", {"seconds": 0}),
        ("extend_turn", {"seconds": 3601}),
        ("start_round", {"order": "chosen", "participant_ids": [""]}),
    ],
)
async def test_payloads_are_strict(
    server: RunningServer, connect: ClientFactory, event: str, payload: dict[str, Any]
) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac", microphone=True)
    room = server.room("r1")
    before = (room.settings, room.schedule, [room.view(p) for p in room.admitted()])
    reply = await fac.call(event, payload)
    assert reply["ok"] is False and reply["error"]["code"] == "invalid_payload", reply
    assert (room.settings, room.schedule, [room.view(p) for p in room.admitted()]) == before


async def test_an_explicit_null_payload_is_refused_and_no_payload_is_empty(
    server: RunningServer, connect: ClientFactory
) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    for event in ("raise_hand", "mute_all", "update_settings"):
        reply = await raw_call(fac, json.dumps([event, None]))
        assert reply["error"]["code"] == "invalid_payload", (event, reply)
    assert (await raw_call(fac, '["raise_hand",{},{}]'))["error"]["code"] == "invalid_payload"
    assert list(server.room("r1").hands) == []
    assert (await raw_call(fac, '["raise_hand"]'))["ok"]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
async def test_non_finite_numbers_are_refused_and_never_broadcast(
    server: RunningServer, connect: ClientFactory, constant: str
) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    await fac.call("update_settings", {"auto_admit": True})
    ana, _ = await joined(connect, server, "r1", Role.MEMBER, "Ana")
    for field in ("starts_at", "ends_at", "late_cutoff_at"):
        reply = await raw_call(fac, f'["set_schedule",{{"{field}":{constant}}}]')
        assert reply["error"]["code"] == "invalid_payload", reply
    assert (await raw_call(fac, f'["extend_turn",{{"seconds":{constant}}}]'))["error"][
        "code"
    ] == "invalid_payload"
    assert server.room("r1").schedule.ends_at is None
    # Everyone is still connected and served, and so is the next person to join.
    assert (await fac.call("set_schedule", {"ends_at": 4_000_000_000}))["ok"]
    await ana.wait_for("schedule_changed")
    _late, snapshot = await joined(connect, server, "r1", Role.MEMBER, "Late")
    assert snapshot["schedule"]["ends_at"] == 4_000_000_000 and ana.sio.connected


async def test_deep_nesting_is_refused_without_a_traceback(
    server: RunningServer, connect: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    other, _ = await joined(connect, server, "r1", Role.MEMBER, "Other")
    deep = "[" * 1000 + "]" * 1000
    for body in (f'["join",{deep}]', f'["send_chat",{{"text":{deep}}}]', deep):
        reply = await raw_call(fac, body)
        assert reply["error"]["code"] == "invalid_payload", reply
    just_too_deep = "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1)
    assert (await raw_call(fac, f'["raise_hand",{just_too_deep}]'))["error"][
        "code"
    ] == "invalid_payload"
    await fac.sio.eio.send("2" + deep)  # no acknowledgement asked: dropped quietly
    assert (await fac.call("raise_hand"))["ok"]
    assert (await other.call("accept_ground_rules"))["ok"]
    assert tracebacks(caplog) == []
    lines = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert len(lines) <= 1 and all(len(r.getMessage()) < 200 for r in lines)


async def test_an_oversize_frame_closes_that_connection_only(
    server: RunningServer, connect: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    await fac.call("update_settings", {"auto_admit": True})
    ana, _ = await joined(connect, server, "r1", Role.MEMBER, "Ana")
    await ana.sio.eio.send("2" + json.dumps(["send_chat", {"text": "x" * MAX_FRAME_BYTES}]))
    await wait_until(lambda: not ana.sio.connected, what="the oversize sender's disconnection")
    dropped = await fac.wait_for("participant_reconnecting")
    assert dropped == {"participant_id": ana.participant_id, "reconnecting": True}
    assert (await fac.call("raise_hand"))["ok"]
    _again, snapshot = await joined(connect, server, "r1", Role.MEMBER, "Ana")
    assert snapshot["you"]["state"] == "admitted"
    assert tracebacks(caplog) == []


def test_the_frame_limit_holds_the_largest_sdp_a_payload_allows() -> None:
    line = "a=candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host generation 0\r\n"
    sdp = (line * (MAX_SDP_LENGTH // len(line) + 1))[:MAX_SDP_LENGTH]
    frame = "421" + json.dumps(
        ["subscriber_answer", {"sdp": sdp, "type": "answer", "revision": 2**31}],
        separators=(",", ":"),
    )
    assert len(frame.encode()) <= MAX_FRAME_BYTES


@pytest.mark.parametrize(
    ("event", "extra"),
    [
        ("mute", {}),
        ("ask_to_unmute", {"device": "camera"}),
        ("allow_unmute", {}),
        ("lower_hand", {}),
        ("remove", {}),
    ],
)
async def test_moderating_someone_waiting_is_refused_and_names_them_to_nobody(
    server: RunningServer, connect: ClientFactory, event: str, extra: dict[str, Any]
) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    await fac.call("update_settings", {"auto_admit": True})
    ben, _ = await joined(connect, server, "r1", Role.MEMBER, "Ben")
    await fac.call("update_settings", {"auto_admit": False})
    waiting, _ = await joined(connect, server, "r1", Role.MEMBER, "Wendy", microphone=True)
    reply = await fac.call(event, {"participant_id": waiting.participant_id, **extra})
    assert reply["error"]["code"] == "not_in_room", reply
    assert (await ben.call("raise_hand"))["ok"]
    await fac.wait_for("hand_queue_changed")
    await ben.wait_for("hand_queue_changed")
    assert not any(waiting.participant_id in json.dumps(data) for _, data in ben.events)


async def test_a_failed_delivery_to_one_connection_spares_the_others(
    server: RunningServer, connect: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    await fac.call("update_settings", {"auto_admit": True})
    broken, _ = await joined(connect, server, "r1", Role.MEMBER, "Broken")
    ben, _ = await joined(connect, server, "r1", Role.MEMBER, "Ben")
    sio = server.app[SIO]
    real_emit = sio.emit
    broken_sid = broken.sio.get_sid()

    async def emit(event: str, data: Any = None, to: str | None = None, **kwargs: Any) -> None:
        if to == broken_sid:
            raise ConnectionResetError("the socket went away mid-send")
        await real_emit(event, data, to=to, **kwargs)

    monkeypatch.setattr(sio, "emit", emit)
    for text in ("first", "second"):
        assert (await fac.call("send_chat", {"text": text}))["ok"]
        await ben.wait_for("chat_message", lambda d, t=text: d["message"]["text"] == t)
    assert server.app[SIGNALING].delivery_failures == 2
    counted = server.app[METRICS].registry.get_sample_value(
        "groupsession_signaling_delivery_problems_total", {"kind": "emit_failed"}
    )
    assert counted == 2
    assert (await ben.call("raise_hand"))["ok"]
    await fac.wait_for("hand_queue_changed")


@pytest.mark.parametrize(
    "frame",
    ["4", '4{"message":"x"}', "7", "9[]", "3999[]", "6", "61-1[]", "2", "x", "51-", b"\x02", b"4"],
    ids=repr,
)
async def test_stray_packets_log_no_traceback_and_serve_on(
    server: RunningServer,
    connect: ClientFactory,
    caplog: pytest.LogCaptureFixture,
    frame: str | bytes,
) -> None:
    caplog.set_level(logging.DEBUG)
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    await fac.sio.eio.send(frame)
    if isinstance(frame, str) and frame[1:3] == "1-":  # binary, announcing an attachment
        await fac.sio.eio.send(b"\x00")
    assert (await fac.call("raise_hand"))["ok"]
    other, _ = await joined(connect, server, "r1", Role.MEMBER, "Other")
    assert (await other.call("accept_ground_rules"))["ok"]
    assert tracebacks(caplog) == []
