"""Mutated real SDP at the media plane's two entrances (a publish offer, a subscriber
answer): whatever aiortc's parser makes of it, the plane answers with success or
InvalidSessionDescription (``invalid_sdp`` on the wire), never anything else."""

from __future__ import annotations

import random

from aiortc import RTCSessionDescription

from signaling.media import InvalidSessionDescription, MediaNotReady, SessionDescription
from tests.server.sfu.peers import ROOM, Session, client_peer_connection, eventually

SEED = 11
MUTATIONS = 150
TRICKY_LINES = [
    "m=audio",
    "m=video 9 UDP/TLS/RTP/SAVPF 300",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
    "a=rtpmap:",
    "a=rtpmap:96",
    "a=rtpmap:96 VP8",
    "a=fmtp:96",
    "a=fmtp:x apt=",
    "a=rtcp-fb:96",
    "a=ssrc:",
    "a=ssrc:1 cname",
    "a=ssrc-group:FID 1",
    "a=msid:",
    "a=mid:",
    "a=group:BUNDLE 9 9",
    "a=extmap:x urn:x",
    "a=extmap:999999",
    "a=setup:bogus",
    "a=fingerprint:sha-256 zz",
    "a=fingerprint:",
    "a=ice-ufrag:",
    "a=candidate:",
    "a=candidate:1 1 udp x 192.0.2.1 9 typ host",
    "a=rtcp:x",
    "c=IN IP4",
    "c=",
    "o=",
    "v=1",
    "a=sctp-port:x",
    "a=max-message-size:-1",
    "a=simulcast:send 1;2",
    "a=rid:",
]


def mutate(sdp: str, rng: random.Random) -> str:
    lines = sdp.split("\r\n")
    for _ in range(rng.randint(1, 3)):
        where = rng.randrange(len(lines))
        kind = rng.randrange(8)
        if kind == 0:
            del lines[where]
        elif kind == 1:
            lines.insert(where, rng.choice(TRICKY_LINES))
        elif kind == 2:
            lines.insert(where, lines[rng.randrange(len(lines))])
        elif kind == 3:
            cut = rng.randrange(len(lines[where]) + 1)
            lines[where] = lines[where][:cut]
        elif kind == 4:
            line = lines[where]
            at = rng.randrange(len(line) + 1)
            lines[where] = (
                line[:at] + rng.choice([":", " ", "=", "/", "-1", "x", "\x00"]) + line[at:]
            )
        elif kind == 5:
            words = lines[where].split(" ")
            words[rng.randrange(len(words))] = rng.choice(["", "-1", "99999999999", "x", "0"])
            lines[where] = " ".join(words)
        elif kind == 6:
            other = rng.randrange(len(lines))
            lines[where], lines[other] = lines[other], lines[where]
        else:
            return "\r\n".join(lines)[: rng.randrange(len(sdp))]
        if not lines:
            lines = [""]
    return "\r\n".join(lines)


class OfferRecorder:
    """Stands in for a client peer in RelaySignals: keeps the offers sent to it."""

    def __init__(self) -> None:
        self.offers: list[tuple[int, SessionDescription]] = []

    def offer_arrived(self, offer: SessionDescription, revision: int, tracks: object) -> None:
        self.offers.append((revision, offer))

    async def close(self) -> None:
        return None


async def test_mutated_publish_offers_are_invalid_sdp_or_served(session: Session) -> None:
    a = await session.join(0)
    real = a.publish_pc.localDescription.sdp
    rng = random.Random(SEED)
    refused = 0
    for index in range(MUTATIONS):
        participant = f"p-fuzz-{index}"
        offer = SessionDescription(mutate(real, rng), "offer")
        try:
            await session.plane.publish(ROOM, participant, offer)
        except InvalidSessionDescription:
            refused += 1
        await session.plane.remove_participant(ROOM, participant)
    assert refused > MUTATIONS // 4  # the mutations do break things
    # The real publisher is untouched.
    assert session.plane.peer_connections()


async def test_mutated_subscriber_answers_are_invalid_sdp_or_accepted(session: Session) -> None:
    await session.join(0)
    recorder = OfferRecorder()
    session.signals.clients["p-fuzz"] = recorder  # type: ignore[assignment]
    await session.plane.subscribe(ROOM, "p-fuzz")
    await eventually(lambda: bool(recorder.offers), 5, "an offer for the fuzzing subscriber")
    revision, offer = recorder.offers[-1]
    pc = client_peer_connection()
    try:
        await pc.setRemoteDescription(RTCSessionDescription(offer.sdp, offer.type))
        await pc.setLocalDescription(await pc.createAnswer())
        real = pc.localDescription.sdp
    finally:
        await pc.close()
    rng = random.Random(SEED)
    accepted = False
    for _ in range(MUTATIONS):
        answer = SessionDescription(mutate(real, rng), "answer")
        try:
            await session.plane.accept_subscriber_answer(ROOM, "p-fuzz", answer, revision)
            accepted = True
        except InvalidSessionDescription:
            pass
        except MediaNotReady:
            # Only once a mutated answer was taken: then nothing is outstanding.
            assert accepted
