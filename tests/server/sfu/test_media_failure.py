"""The media plane notices a peer connection that dies under it, and only then."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from server.sfu.plane import RtpForwardingMediaPlane
from tests.server.sfu.peers import ROOM, RelaySignals, Session, eventually


@pytest.fixture
async def session() -> AsyncIterator[Session]:
    plane = RtpForwardingMediaPlane()
    signals = RelaySignals()
    plane.attach(signals)
    yield Session(plane, signals)
    await plane.close()


async def test_a_closed_ice_transport_is_reported_once(session: Session) -> None:
    client = await session.join(0)
    media = session.plane._existing_participant(ROOM, client.participant_id)
    assert media is not None and media.publish_pc is not None
    await eventually(
        lambda: media.publish_pc is not None and media.publish_pc.connectionState == "connected",
        10,
        "the publish connection",
    )
    [ice] = {t.receiver.transport.transport for t in media.publish_pc.getTransceivers()}
    await ice.stop()
    await eventually(lambda: bool(session.signals.failed), 10, "the failure report")
    assert session.signals.failed == [client.participant_id]
    assert session.plane.media_failures == 1
    await client.close()


async def test_our_own_teardown_is_no_failure(session: Session) -> None:
    first = await session.join(0)
    second = await session.join(1)
    await session.leave(first)
    await session.leave(second)
    assert session.signals.failed == []
    assert session.plane.media_failures == 0


async def test_a_subscription_closed_under_us_does_not_fail_others_publish(
    session: Session,
) -> None:
    """aiortc closes a connection whose DTLS transports all closed; until signaling drops
    her, a new publisher's tracks skip her dead subscription rather than fail to publish."""
    first = await session.join(0)
    subscription = session.plane_subscription(first.participant_id)
    await subscription.pc.close()  # as aiortc does when her DTLS transports all closed
    assert not subscription.usable
    second = await session.join(1)  # its publish would have raised InvalidStateError
    assert session.plane.published_tracks(ROOM, second.participant_id)
    await first.close()
    await second.close()
