"""Side rooms in the media plane, with real aiortc peers: media flows only within a
place, and flows again when people come back."""

from __future__ import annotations

from signaling.media import TrackKind
from tests.server.sfu.peers import ROOM, ClientPeer, Session, eventually, sees_and_hears


def frames_from(viewer: ClientPeer, publisher: ClientPeer) -> int:
    return viewer.reception(publisher.participant_id, TrackKind.VIDEO).frames


async def test_media_flows_only_within_a_side_room_and_again_after(session: Session) -> None:
    fac, ana, ben = [await session.join(i) for i in range(3)]
    for client in (fac, ana, ben):
        others = [c for c in (fac, ana, ben) if c is not client]
        await eventually(
            lambda c=client, o=others: sees_and_hears(c, o), timeout=20, what="everyone flowing"
        )

    # The facilitator takes Ana aside.
    session.plane.set_places(ROOM, {fac.participant_id: "side-1", ana.participant_id: "side-1"})
    await eventually(
        lambda: (
            ben.subscribed_to() == set()
            and ana.subscribed_to() == {fac.participant_id}
            and fac.subscribed_to() == {ana.participant_id}
        ),
        timeout=20,
        what="offers that carry only the people in the same place",
    )
    # They still see each other; Ben receives nothing of them.
    before = frames_from(ana, fac)
    await eventually(lambda: frames_from(ana, fac) > before + 5, timeout=20, what="Ana sees Fac")
    for publisher in (fac, ana):
        for kind in (TrackKind.AUDIO, TrackKind.VIDEO):
            assert ben.receiver_for(publisher.participant_id, kind) is None
    assert not any(
        leg == ben.participant_id
        for track in session.plane.published_tracks(ROOM, ana.participant_id)
        for leg in track.legs
    )

    # Everyone back: Ben receives both again.
    session.plane.set_places(ROOM, {})
    before_fac, before_ana = frames_from(ben, fac), frames_from(ben, ana)
    await eventually(
        lambda: frames_from(ben, fac) > before_fac + 5 and frames_from(ben, ana) > before_ana + 5,
        timeout=20,
        what="Ben seeing both again",
    )
