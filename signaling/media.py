"""The contract between signaling and the media plane.

Signaling owns the wire protocol and the room rules; the media plane (in
``server/sfu``) owns peer connections and RTP forwarding. Imports point
``server`` -> ``signaling``, so the contract lives here and the server
implements it. Nothing in this module holds a media object.

Two peer connections per participant (LiveKit's split, which avoids offer
glare): the client offers on its *publish* connection; the server offers on
the participant's *subscribe* connection and renegotiates it whenever the set
of forwarded tracks changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Leg(StrEnum):
    """Which of a participant's two peer connections a message concerns."""

    PUBLISH = "publish"
    SUBSCRIBE = "subscribe"


class TrackKind(StrEnum):
    AUDIO = "audio"
    VIDEO = "video"


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """An SDP offer or answer, as RTCSessionDescription carries it."""

    sdp: str
    type: str  # "offer" or "answer"


@dataclass(frozen=True, slots=True)
class IceCandidate:
    """A remote ICE candidate as the browser's RTCIceCandidate.toJSON() gives it."""

    candidate: str
    sdp_mid: str | None
    sdp_mline_index: int | None


@dataclass(frozen=True, slots=True)
class ForwardedTrack:
    """One track on a subscribe connection: which transceiver (mid) carries whose media."""

    mid: str
    participant_id: str
    kind: TrackKind
    # A shared screen: the publisher's second video track, shown large (additive field).
    screen: bool = False


@dataclass(frozen=True, slots=True)
class ForwardingPermission:
    """What the server may forward of one publisher; the room's mute model decides it."""

    audio: bool
    video: bool
    # Their screen track: only while the room says they share (additive field).
    screen: bool = False


# Simulcast (issue 17): a camera is published as up to three spatial layers,
# named by their RTP stream ids, lowest resolution first. The web client sends
# exactly these rids; the media plane refuses others. A screen is never simulcast.
SIMULCAST_RIDS: tuple[str, ...] = ("q", "h", "f")


@dataclass(frozen=True, slots=True)
class TileView:
    """How a subscriber shows one remote participant's camera (the web client reports it).

    ``width``/``height`` are device pixels of the rendered tile (CSS size times
    devicePixelRatio); 0 when not visible. A participant a subscriber never
    reported is treated as visible at an unknown size: no size cap, so clients
    that do not report (and the tests' aiortc peers) get the best layer that fits.
    """

    participant_id: str
    visible: bool
    width: int
    height: int


class VideoPause(StrEnum):
    """Why a subscriber receives no video of someone although it is allowed."""

    # The subscriber does not show that tile (scrolled away, minimised, hidden).
    HIDDEN = "hidden"
    # Even the lowest layer does not fit the subscriber's downlink: audio first.
    BANDWIDTH = "bandwidth"


@dataclass(frozen=True, slots=True)
class ReceivedVideo:
    """What one subscriber receives of one publisher's camera."""

    participant_id: str
    # The rid being forwarded ("q", "h", "f"), or None: paused, or the publisher
    # sends a single layer.
    layer: str | None
    paused: VideoPause | None


class ConnectionProblem(StrEnum):
    """What a facilitator is told about a participant's media connection (never blame)."""

    # The publish connection sent more than its budget: the excess is dropped,
    # so that participant's audio and video may stutter for the others.
    UNSTABLE_MEDIA = "unstable_media"


class MediaError(Exception):
    """A media request that cannot be served (bad SDP, unknown leg, closed room)."""

    code = "media_failed"


class InvalidSessionDescription(MediaError):
    code = "invalid_sdp"


class MediaNotReady(MediaError):
    """A subscriber answer or candidate arrived for a leg that has no pending offer."""

    code = "media_not_ready"


# A transport address's port (RFC 8839's candidate grammar, RFC 768).
MAX_PORT = 65535


def check_candidate(candidate: str) -> None:
    """Refuse an ICE candidate (``candidate:...``, as trickled or after ``a=`` in SDP)
    whose port no socket has. Handed on, the media plane's ICE agent fails when it
    sends its first check there: the socket call raises OverflowError, which is not
    an OSError, so asyncio logs a traceback and closes the connection's socket. A port
    that is not a number at all is left to the media plane's parser, which refuses it."""
    fields = candidate.removeprefix("candidate:").split()
    if len(fields) < 6:
        return
    try:
        port = int(fields[5])  # as the parser reads it
    except ValueError:
        return
    if not 0 <= port <= MAX_PORT:
        raise InvalidSessionDescription(f"an ICE candidate's port is 0 to {MAX_PORT}")


def check_sdp_candidates(sdp: str) -> None:
    """``check_candidate`` for each candidate of an offer or answer, split into lines as
    the media plane's SDP parser splits them."""
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            check_candidate(line.removeprefix("a="))


class MediaSignals(Protocol):
    """What the media plane tells signaling; signaling implements it."""

    async def send_subscriber_offer(
        self,
        room_id: str,
        participant_id: str,
        offer: SessionDescription,
        revision: int,
        tracks: list[ForwardedTrack],
    ) -> None:
        """Deliver a (re)negotiation offer for the participant's subscribe connection."""
        ...

    def speaking_changed(self, room_id: str, participant_id: str, speaking: bool) -> None:
        """A publisher started or stopped speaking (from RFC 6464 audio levels, with hysteresis)."""
        ...

    def connection_problem(
        self, room_id: str, participant_id: str, problem: ConnectionProblem
    ) -> None:
        """A participant's media connection has a problem a facilitator should know about.

        Told at most once per half minute per participant while it lasts.
        """

    def media_failed(self, room_id: str, participant_id: str) -> None:
        """One of the participant's peer connections failed (ICE or DTLS) or was closed
        under the media plane: their media is dead until they negotiate anew."""
        ...


    def video_forwarding_changed(
        self, room_id: str, participant_id: str, videos: Sequence[ReceivedVideo]
    ) -> None:
        """What the subscriber receives of each camera changed (layer or pause).

        ``videos`` is the whole picture for that subscriber, every publisher whose
        camera it may receive; signaling sends it as ``video_forwarding``."""
        ...

    def publish_layers_changed(
        self, room_id: str, participant_id: str, active: Mapping[str, bool]
    ) -> None:
        """Which simulcast layers (rid -> wanted) of the participant's camera anyone
        receives: the client pauses the others at its encoder (dynacast). Sent as
        ``publish_layers``; a layer is only paused after it has been unwanted for a
        few seconds, so flapping subscribers do not make the encoder churn."""
        ...


class MediaPlane(Protocol):
    """The server's media plane, as signaling drives it.

    Every method is keyed by (room id, participant id); the media plane never
    learns display names.
    """

    def attach(self, signals: MediaSignals) -> None:
        """Give the media plane its way back to signaling; called once at start-up."""
        ...

    async def publish(
        self,
        room_id: str,
        participant_id: str,
        offer: SessionDescription,
        *,
        screen_mid: str | None = None,
    ) -> SessionDescription:
        """Accept (or renegotiate) the participant's publish connection; return the answer.

        ``screen_mid``: the offer's video section that carries a shared screen (a
        third track, forwarded only under ``ForwardingPermission.screen``). It is
        flagged when first negotiated and stays a screen track; signaling passes it
        only when the client names one (additive: planes without screen sharing may
        leave it out)."""
        ...

    async def subscribe(self, room_id: str, participant_id: str) -> None:
        """Open the participant's subscribe connection; offers follow via send_subscriber_offer."""
        ...

    async def accept_subscriber_answer(
        self, room_id: str, participant_id: str, answer: SessionDescription, revision: int
    ) -> None:
        """Complete the negotiation started by the offer with this revision."""
        ...

    async def add_ice_candidate(
        self, room_id: str, participant_id: str, leg: Leg, candidate: IceCandidate
    ) -> None: ...

    def set_forwarding(
        self, room_id: str, participant_id: str, permission: ForwardingPermission
    ) -> None:
        """Apply the mute model: drop what the publisher may not send to the room.

        Takes effect on the next packet. Video that becomes allowed again resumes
        on a keyframe, which the media plane requests from the publisher.
        """
        ...

    def set_places(self, room_id: str, places: Mapping[str, str]) -> None:
        """Side rooms: forward media only between participants in the same place.

        ``places`` names the side room of each participant who is in one; everyone
        not named is in the main room. Each call replaces the previous one. Added for
        side rooms: signaling calls it only once a room has used one, so a plane that
        never sees side rooms need not implement it."""
        ...

    def set_video_priority(self, room_id: str, participant_ids: Sequence[str]) -> None:
        """Whose camera is paused last when a subscriber's downlink cannot carry every
        video: the room's facilitators and co-facilitators and the spotlighted person
        (the current speaker is kept too; the media plane knows who speaks). Each call
        replaces the previous one; signaling calls it when roles or the spotlight change."""
        ...

    def set_view(self, room_id: str, participant_id: str, tiles: Sequence[TileView]) -> None:
        """Replace what the subscriber shows of others' cameras (``report_view``).

        The media plane picks each leg's layer from this, the subscriber's downlink
        estimate and relevance (speaker, spotlight, facilitators); see
        docs/media-plane.md. Unknown participant ids are ignored."""
        ...

    async def remove_participant(self, room_id: str, participant_id: str) -> None:
        """Close both of the participant's connections and stop forwarding their media."""
        ...

    async def close_room(self, room_id: str) -> None:
        """Close every connection in the room (session ended)."""
        ...

    async def close(self) -> None:
        """Close everything; called at server shutdown."""
        ...
