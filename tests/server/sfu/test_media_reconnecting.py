"""A media-only failure (the socket stays up) shows the person as reconnecting to the
room, with their place kept, until their client has negotiated media again. A real
server, real Socket.IO, real aiortc peers; only the media path is broken (the
server's ICE transport of one publisher is closed under it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rooms import Role, Room
from server.app import default_media
from server.app_keys import MEDIA, STORE
from server.sfu import RtpForwardingMediaPlane
from signaling.media import TrackKind
from tests.conftest import RunningServer, start_server
from tests.server.sfu.peers import client_peer_connection, eventually
from tests.server.sfu.wire_peers import WirePeer

ROOM = "media-reconnecting"
MEDIA_TIMEOUT_S = 30.0


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    runner, running = await start_server(tmp_path, media_factory=default_media)
    yield running
    await runner.cleanup()


async def enter(server: RunningServer, name: str, index: int, role: Role) -> WirePeer:
    peer = WirePeer(server, ROOM, name, index=index, role=role)
    await peer.join()
    if role is Role.FACILITATOR:
        await peer.call("update_settings", {"auto_admit": True})
    return peer


def reconnecting_told(peer: WirePeer, participant_id: str) -> list[bool]:
    return [
        bool(data["reconnecting"])
        for data in peer.received_events("participant_reconnecting")
        if data["participant_id"] == participant_id
    ]


async def test_a_media_failure_shows_reconnecting_until_the_client_publishes_again(
    server: RunningServer,
) -> None:
    fran = await enter(server, "Fran", 0, Role.FACILITATOR)
    ann = await enter(server, "Ann", 1, Role.MEMBER)
    peers = [fran, ann]
    try:
        for peer in peers:
            for other in peers:
                peer.identities[other.participant_id] = other.index
            await peer.publish()
            await peer.subscribe()
        await eventually(
            lambda: fran.sees_and_hears([ann]) and ann.sees_and_hears([fran]),
            MEDIA_TIMEOUT_S,
            "media before the failure",
        )
        await ann.call("raise_hand")
        await fran.call("give_floor", {"participant_id": ann.participant_id})
        await fran.call("mute", {"participant_id": ann.participant_id, "device": "camera"})
        room = server.app[STORE].get(ROOM)
        assert isinstance(room, Room)
        hands_before = list(room.hands)

        # Only the media path breaks: the server's ICE transport of Ann's publish connection.
        plane = server.app[MEDIA]
        assert isinstance(plane, RtpForwardingMediaPlane)
        media = plane._existing_participant(ROOM, ann.participant_id)
        assert media is not None and media.publish_pc is not None
        [ice] = {t.receiver.transport.transport for t in media.publish_pc.getTransceivers()}
        await ice.stop()

        await eventually(lambda: bool(ann.received_events("media_failed")), 15, "media_failed")
        await eventually(
            lambda: reconnecting_told(fran, ann.participant_id) == [True],
            15,
            "Fran told that Ann is reconnecting",
        )
        assert ann.sio.connected
        assert room.participant(ann.participant_id).reconnecting
        # Her place is kept: hand, floor, the facilitator's hold.
        assert list(room.hands) == hands_before
        assert room.floor.holder_id == ann.participant_id
        assert room.participant(ann.participant_id).camera.held
        fran_view = await fran.call("get_audit")
        assert ("media_lost", ann.participant_id) in {
            (r["action"], r["target_id"]) for r in fran_view["records"]
        }

        # What the client does on media_failed: drop both connections, negotiate anew,
        # the subscribe connection first. She is back with her publish connection.
        await ann.call("restart_media")
        await ann.publish_pc.close()
        ann.publish_pc = client_peer_connection()
        ann.answer_offers = False  # her old subscribe connection here: only the call matters
        await ann.subscribe()
        assert room.participant(ann.participant_id).reconnecting
        seen = fran.reception(ann.participant_id, TrackKind.AUDIO).matching
        await ann.publish()
        await eventually(
            lambda: reconnecting_told(fran, ann.participant_id) == [True, False],
            15,
            "Fran told that Ann is back",
        )
        assert not room.participant(ann.participant_id).reconnecting
        await eventually(
            lambda: fran.reception(ann.participant_id, TrackKind.AUDIO).matching > seen + 5,
            MEDIA_TIMEOUT_S,
            "Ann heard again",
        )
        assert room.floor.holder_id == ann.participant_id
    finally:
        for peer in peers:
            await peer.close()


async def test_someone_who_publishes_nothing_is_back_with_their_subscribe_connection(
    server: RunningServer,
) -> None:
    fran = await enter(server, "Fran", 0, Role.FACILITATOR)
    olga = await enter(server, "Olga", 1, Role.OBSERVER)
    peers = [fran, olga]
    try:
        olga.identities[fran.participant_id] = fran.index
        await fran.publish()
        await olga.subscribe()
        await eventually(lambda: olga.sees_and_hears([fran]), MEDIA_TIMEOUT_S, "Olga receiving")
        plane = server.app[MEDIA]
        assert isinstance(plane, RtpForwardingMediaPlane)
        media = plane._existing_participant(ROOM, olga.participant_id)
        assert media is not None and media.subscription is not None
        [ice] = {t.sender.transport.transport for t in media.subscription.pc.getTransceivers()}
        await ice.stop()
        await eventually(
            lambda: reconnecting_told(fran, olga.participant_id) == [True],
            15,
            "Fran told that Olga is reconnecting",
        )
        await olga.call("restart_media")
        olga.answer_offers = False  # the new offer would meet her old connection here
        await olga.subscribe()
        await eventually(
            lambda: reconnecting_told(fran, olga.participant_id) == [True, False],
            15,
            "Fran told that Olga is back",
        )
    finally:
        for peer in peers:
            await peer.close()
