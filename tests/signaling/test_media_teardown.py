"""A media plane whose teardown hangs (aiortc's close can wait forever on a dead
task, issue 12) must not stop a room's events: signaling closes media in the
background, bounded, and removes the participant from signaling state at once."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

import pytest

from rooms import Role
from server.app_keys import METRICS, SIGNALING
from server.config import Config
from server.monitoring.pseudonyms import Pseudonyms
from signaling.media import (
    ForwardingPermission,
    IceCandidate,
    Leg,
    MediaError,
    MediaSignals,
    SessionDescription,
    TileView,
)
from signaling.service import MEDIA_TEARDOWN_S
from tests.conftest import (
    TEST_SECRET,
    ClientFactory,
    RunningServer,
    joined,
    start_server,
    wait_until,
)

# Well under the teardown bound: the room must not wait for the media at all.
PROMPT_S = MEDIA_TEARDOWN_S / 2


class HangingMediaPlane:
    """A MediaPlane (signaling.media's Protocol) whose closes never return."""

    def __init__(self) -> None:
        self.removals: list[str] = []
        self.rooms_closed: list[str] = []
        self._never = asyncio.Event()

    def attach(self, signals: MediaSignals) -> None:
        return None

    async def publish(
        self, room_id: str, participant_id: str, offer: SessionDescription
    ) -> SessionDescription:
        raise MediaError("this test plane relays nothing")

    async def subscribe(self, room_id: str, participant_id: str) -> None:
        return None

    async def accept_subscriber_answer(
        self, room_id: str, participant_id: str, answer: SessionDescription, revision: int
    ) -> None:
        return None

    async def add_ice_candidate(
        self, room_id: str, participant_id: str, leg: Leg, candidate: IceCandidate
    ) -> None:
        return None

    def set_forwarding(
        self, room_id: str, participant_id: str, permission: ForwardingPermission
    ) -> None:
        return None

    # It forwards nothing, so there is no place, priority or view to apply.
    def set_places(self, room_id: str, places: Mapping[str, str]) -> None:
        return None

    def set_video_priority(self, room_id: str, participant_ids: Sequence[str]) -> None:
        return None

    def set_view(self, room_id: str, participant_id: str, tiles: Sequence[TileView]) -> None:
        return None

    async def remove_participant(self, room_id: str, participant_id: str) -> None:
        self.removals.append(participant_id)
        await self._never.wait()

    async def close_room(self, room_id: str) -> None:
        self.rooms_closed.append(room_id)
        await self._never.wait()

    async def close(self) -> None:
        return None


@pytest.fixture
def plane() -> HangingMediaPlane:
    return HangingMediaPlane()


@pytest.fixture
async def server(tmp_path: Path, plane: HangingMediaPlane) -> AsyncIterator[RunningServer]:
    def factory(config: Config) -> HangingMediaPlane:
        return plane

    runner, running = await start_server(tmp_path, media_factory=factory)
    yield running
    await runner.cleanup()


async def test_a_hanging_media_close_does_not_stop_the_room(
    server: RunningServer,
    connect: ClientFactory,
    plane: HangingMediaPlane,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    fac, _ = await joined(connect, server, "r1", Role.FACILITATOR, "Fac")
    await fac.call("update_settings", {"auto_admit": True})
    ana, _ = await joined(connect, server, "r1", Role.MEMBER, "Ana Stuck")
    ben, _ = await joined(connect, server, "r1", Role.MEMBER, "Ben")

    started = time.monotonic()
    assert (await ana.call("leave"))["ok"]
    await ben.wait_for("participant_left", timeout=PROMPT_S)
    assert (await fac.call("send_chat", {"text": "still with us"}))["ok"]
    await ben.wait_for("chat_message", timeout=PROMPT_S)
    assert time.monotonic() - started < MEDIA_TEARDOWN_S
    assert plane.removals == [ana.participant_id]
    assert not server.room("r1").is_present(ana.participant_id or "")

    # The stuck close is given up on, once, without names in the log.
    signaling = server.app[SIGNALING]
    await wait_until(
        lambda: signaling.media_teardowns_timed_out == 1, MEDIA_TEARDOWN_S * 3, "the timeout"
    )
    lines = [r for r in caplog.records if r.getMessage() == "media teardown timed out"]
    pseudonym = Pseudonyms(TEST_SECRET).participant("r1", ana.participant_id or "")
    assert len(lines) == 1 and getattr(lines[0], "participant_id", None) == pseudonym
    assert "Ana Stuck" not in caplog.text
    problems = server.app[METRICS].registry.get_sample_value(
        "groupsession_signaling_delivery_problems_total", {"kind": "media_teardown_timed_out"}
    )
    assert problems == 1

    # Ending the session with a hanging room close still reaches everyone promptly.
    assert (await fac.call("end_session"))["ok"]
    await ben.wait_for("session_ended", timeout=PROMPT_S)
    assert plane.rooms_closed == ["r1"]
