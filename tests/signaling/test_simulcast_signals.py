"""Simulcast's signaling (issue 17) over real Socket.IO: ``report_view`` reaches the media
plane only when well formed; ``video_forwarding`` and ``publish_layers`` reach the one
participant they concern; the media plane is told whose video is paused last whenever
the facilitators present or the spotlight change."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from rooms import Role
from server.app_keys import SIGNALING
from server.config import Config
from server.sfu import RtpForwardingMediaPlane
from signaling.media import ReceivedVideo, TileView, VideoPause
from tests.conftest import (
    Client,
    ClientFactory,
    RunningServer,
    joined,
    start_server,
    wait_until,
)


class RecordingPlane(RtpForwardingMediaPlane):
    """The real media plane, with what signaling tells it of views and priority kept
    for the test to read (it then does what it always does)."""

    def __init__(self) -> None:
        super().__init__()
        self.priorities: list[tuple[str, list[str]]] = []
        self.views: list[tuple[str, str, list[TileView]]] = []

    def set_video_priority(self, room_id: str, participant_ids: Sequence[str]) -> None:
        self.priorities.append((room_id, list(participant_ids)))
        super().set_video_priority(room_id, participant_ids)

    def set_view(self, room_id: str, participant_id: str, tiles: Sequence[TileView]) -> None:
        self.views.append((room_id, participant_id, list(tiles)))
        super().set_view(room_id, participant_id, tiles)

    def priority(self, room_id: str) -> list[str] | None:
        told = [ids for room, ids in self.priorities if room == room_id]
        return told[-1] if told else None


@pytest.fixture
def plane() -> RecordingPlane:
    return RecordingPlane()


@pytest.fixture
async def server(tmp_path: Path, plane: RecordingPlane) -> AsyncIterator[RunningServer]:
    """Every test here talks to a server with the (recording) real media plane; nobody
    publishes, so the plane itself reports nothing to the clients."""

    def factory(config: Config) -> RecordingPlane:
        return plane

    runner, running = await start_server(tmp_path, media_factory=factory)
    yield running
    await runner.cleanup()


def tile(pid: str, visible: bool = True, width: Any = 320, height: Any = 180) -> dict[str, Any]:
    return {"participant_id": pid, "visible": visible, "width": width, "height": height}


BAD_VIEWS: list[tuple[str, Any]] = [
    ("no tiles field", {}),
    ("tiles null", {"tiles": None}),
    ("tiles an object", {"tiles": {"p_1": tile("p_1")}}),
    ("65 tiles", {"tiles": [tile(f"p_{i}") for i in range(65)]}),
    ("negative width", {"tiles": [tile("p_1", width=-1)]}),
    ("too wide", {"tiles": [tile("p_1", width=16385)]}),
    ("too tall", {"tiles": [tile("p_1", height=100_000)]}),
    ("fractional width", {"tiles": [tile("p_1", width=320.5)]}),
    ("width a string", {"tiles": [tile("p_1", width="320")]}),
    ("width a boolean", {"tiles": [tile("p_1", width=True)]}),
    ("visible a number", {"tiles": [tile("p_1", visible=1)]}),
    ("visible a string", {"tiles": [tile("p_1", visible="yes")]}),
    ("no height", {"tiles": [{"participant_id": "p_1", "visible": True, "width": 1}]}),
    ("empty id", {"tiles": [tile("")]}),
    ("long id", {"tiles": [tile("p" * 65)]}),
    ("id a number", {"tiles": [tile(7)]}),  # type: ignore[arg-type]
    ("unknown tile field", {"tiles": [{**tile("p_1"), "layer": "f"}]}),
    ("unknown field", {"tiles": [], "layer": "f"}),
    ("the same person twice", {"tiles": [tile("p_1"), tile("p_1", visible=False)]}),
]


@pytest.mark.parametrize(("why", "payload"), BAD_VIEWS, ids=[why for why, _ in BAD_VIEWS])
async def test_a_malformed_view_is_refused_and_changes_nothing(
    server: RunningServer,
    connect: ClientFactory,
    plane: RecordingPlane,
    why: str,
    payload: Any,
) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    reply = await fac.call("report_view", payload)
    assert not reply["ok"]
    assert reply["error"]["code"] == "invalid_payload", reply
    assert plane.views == []
    # The connection is still served.
    assert (await fac.call("report_view", {"tiles": [tile("p_1")]}))["ok"]
    assert plane.views == [("r1", fac.participant_id, [TileView("p_1", True, 320, 180)])]


async def test_a_view_reaches_the_media_plane_whole_and_replaces_the_last(
    server: RunningServer, connect: ClientFactory, plane: RecordingPlane
) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    await fac.call("update_settings", {"auto_admit": True})
    observer, _ = await joined(connect, server, "r1", Role.OBSERVER, "Watcher")
    assert fac.participant_id is not None and observer.participant_id is not None
    most = [tile(f"p_{i:02}", visible=i % 2 == 0, width=16384, height=0) for i in range(64)]

    assert await observer.call("report_view", {"tiles": most}) == {"ok": True}
    assert await observer.call("report_view", {"tiles": []}) == {"ok": True}

    assert plane.views == [
        (
            "r1",
            observer.participant_id,
            [TileView(f"p_{i:02}", i % 2 == 0, 16384, 0) for i in range(64)],
        ),
        ("r1", observer.participant_id, []),
    ]


async def test_only_the_admitted_report_a_view(
    server: RunningServer, connect: ClientFactory, plane: RecordingPlane
) -> None:
    await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    waiting, _ = await joined(connect, server, "r1", Role.MEMBER, "Waiting")
    stranger = await connect()

    refused = await waiting.call("report_view", {"tiles": [tile("p_1")]})
    assert refused["error"]["code"] == "not_in_room"
    refused = await stranger.call("report_view", {"tiles": [tile("p_1")]})
    assert refused["error"]["code"] == "not_joined"
    assert plane.views == []


async def _round_trip(sender: Client, *others: Client) -> None:
    """A room-wide event after the reports: once the others have it, they would have had
    anything sent to them before it."""
    before = [len(c.received("settings_changed")) for c in others]
    assert (await sender.call("update_settings", {"chat_enabled": False}))["ok"]
    await wait_until(
        lambda: all(
            len(c.received("settings_changed")) > n for c, n in zip(others, before, strict=True)
        ),
        what="settings_changed everywhere",
    )


async def test_media_reports_reach_the_one_participant_they_concern(
    server: RunningServer, connect: ClientFactory
) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    await fac.call("update_settings", {"auto_admit": True})
    ana, _ = await joined(connect, server, "r1", Role.MEMBER, "Ana")
    ben, _ = await joined(connect, server, "r1", Role.MEMBER, "Ben")
    elsewhere, _ = await joined(connect, server, "r2", Role.FACILITATOR, "Elsewhere")
    assert fac.participant_id and ana.participant_id and ben.participant_id
    signaling = server.app[SIGNALING]

    signaling.video_forwarding_changed(
        "r1",
        ana.participant_id,
        [
            ReceivedVideo(fac.participant_id, "f", None),
            ReceivedVideo(ben.participant_id, None, VideoPause.BANDWIDTH),
        ],
    )
    signaling.publish_layers_changed("r1", ben.participant_id, {"q": True, "h": True, "f": False})
    # The newest is the one that holds: two in quick succession arrive in order.
    signaling.publish_layers_changed("r1", ben.participant_id, {"q": True, "h": False, "f": False})

    assert await ana.wait_for("video_forwarding") == {
        "videos": [
            {"participant_id": fac.participant_id, "layer": "f", "paused": None},
            {"participant_id": ben.participant_id, "layer": None, "paused": "bandwidth"},
        ]
    }
    await wait_until(lambda: len(ben.received("publish_layers")) == 2, what="both layer reports")
    assert ben.received("publish_layers") == [
        {"active": {"q": True, "h": True, "f": False}},
        {"active": {"q": True, "h": False, "f": False}},
    ]
    await _round_trip(fac, ana, ben)
    for client in (fac, ben, elsewhere):
        assert client.received("video_forwarding") == []
    for client in (fac, ana, elsewhere):
        assert client.received("publish_layers") == []


async def test_reports_about_someone_not_connected_go_nowhere(
    server: RunningServer, connect: ClientFactory
) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    signaling = server.app[SIGNALING]
    signaling.video_forwarding_changed("r1", "p_gone", [ReceivedVideo("p_x", "q", None)])
    signaling.publish_layers_changed("r9", "p_gone", {"q": True, "h": False, "f": False})
    await _round_trip(fac, fac)
    assert fac.received("video_forwarding") == [] and fac.received("publish_layers") == []


async def test_the_media_plane_learns_whose_video_goes_last(
    server: RunningServer, connect: ClientFactory, plane: RecordingPlane
) -> None:
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    assert fac.participant_id is not None
    assert plane.priority("r1") == [fac.participant_id]
    await fac.call("update_settings", {"auto_admit": True})
    co, _ = await joined(connect, server, "r1", Role.COFACILITATOR, "Co")
    assert plane.priority("r1") == [fac.participant_id, co.participant_id]
    told = len(plane.priorities)
    # Members joining change nothing: the plane is not told again.
    ana, _ = await joined(connect, server, "r1", Role.MEMBER, "Ana")
    ben, _ = await joined(connect, server, "r1", Role.MEMBER, "Ben")
    assert ana.participant_id and ben.participant_id
    assert len(plane.priorities) == told

    assert (await fac.call("spotlight", {"participant_id": ben.participant_id}))["ok"]
    assert plane.priority("r1") == [fac.participant_id, co.participant_id, ben.participant_id]
    assert len(plane.priorities) == told + 1

    assert (await fac.call("clear_spotlight"))["ok"]
    assert plane.priority("r1") == [fac.participant_id, co.participant_id]

    # The spotlight that follows the floor: the floor holder.
    assert (await fac.call("update_settings", {"spotlight_follows_floor": True}))["ok"]
    assert (await fac.call("set_floor_mode", {"on": True}))["ok"]
    assert (await fac.call("give_floor", {"participant_id": ana.participant_id}))["ok"]
    assert plane.priority("r1") == [fac.participant_id, co.participant_id, ana.participant_id]

    # A facilitator leaving.
    assert (await co.call("leave"))["ok"]
    assert plane.priority("r1") == [fac.participant_id, ana.participant_id]
    # Another room's priority is its own.
    other, _ = await joined(connect, server, "r2", Role.COFACILITATOR, "Other")
    assert plane.priority("r2") == [other.participant_id]
    assert plane.priority("r1") == [fac.participant_id, ana.participant_id]
