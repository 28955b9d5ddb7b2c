"""Every client event not aimed at a participant (test_target_matrix.py has those) x
every role, and someone in the waiting room, over real sockets to one server whose
real media plane (RtpForwardingMediaPlane) is on, against docs/protocol.md: its "who"
column and its rule for the waiting room, read by test_protocol_doc's parser.

An allowed event must succeed and show its effect where the protocol says it shows:
an event another participant receives, media another participant decodes (real
aiortc peers), or the server's media connection. A refused one must be answered
with the documented code and change nothing: not the room's record, not what the
media plane holds for anyone in it, and no room event reaches anyone.

The codes: an event the sender's role may not send is ``permission_denied``, in the
waiting room too; one the role may send but only once admitted is, while waiting,
``not_in_room``. A case whose precondition no setup can make (nobody may ask a
facilitator to unmute) names the code its state gets instead, and why."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
import socketio
from aiortc import RTCPeerConnection, RTCSessionDescription

from rooms import Role
from server.app import default_media
from server.app_keys import MEDIA, SIGNALING
from server.sfu import RtpForwardingMediaPlane
from signaling.event_names import ClientEvent, ServerEvent
from signaling.media import ForwardedTrack, TrackKind
from signaling.routes import ROUTES
from tests.conftest import Client, RunningServer, start_server, wait_until
from tests.server.sfu.peers import COLOURS, TONES_HZ, ColourTrack, ToneTrack
from tests.server.sfu.wire_peers import WirePeer
from tests.signaling.test_protocol_doc import documented_senders, sendable_while_waiting
from tests.signaling.test_target_matrix import AIMED

ACTORS = {
    "facilitator": Role.FACILITATOR,
    "cofacilitator": Role.COFACILITATOR,
    "member": Role.MEMBER,
    "observer": Role.OBSERVER,
    "waiting_member": Role.MEMBER,
    "waiting_observer": Role.OBSERVER,
}
# Besides the actors: a member who sees what the room sees (and publishes, subscribes
# and decodes for the media events), and a second facilitator who sees what only
# facilitators see.
WITNESS, WATCHER = "witness", "watcher"
GROUND_RULES = "What is said here stays here."
# Events a participant receives from the media plane whatever anyone sends.
MEDIA_NOISE = {
    ServerEvent.SPEAKING_CHANGED,
    ServerEvent.TALK_TIME_CHANGED,
    ServerEvent.SUBSCRIBER_OFFER,
    ServerEvent.CONNECTION_PROBLEM,
    ServerEvent.MEDIA_FAILED,
}
_rooms = itertools.count()
_ports = itertools.count(40000)


@dataclass
class Cast:
    server: RunningServer
    room_id: str
    people: dict[str, Any] = field(default_factory=dict)  # Client, or WirePeer with media
    trickled_port: int = 0

    def __getitem__(self, key: str) -> Any:
        return self.people[key]

    def pid(self, key: str) -> str:
        pid: str = self.people[key].participant_id
        return pid

    @property
    def plane(self) -> RtpForwardingMediaPlane:
        plane = self.server.app[MEDIA]
        assert isinstance(plane, RtpForwardingMediaPlane)
        return plane

    async def call(self, key: str, event: str, payload: Any = None) -> dict[str, Any]:
        reply: dict[str, Any] = await self.people[key].sio.call(event, payload or {}, timeout=15)
        return reply

    async def must(self, key: str, event: str, payload: Any = None) -> dict[str, Any]:
        reply = await self.call(key, event, payload)
        assert reply["ok"], (key, event, reply)
        return reply

    async def settle(self) -> None:
        """A round trip on every connection: whatever was sent to it before is in."""
        await asyncio.gather(
            *(p.sio.call("refresh_ice_servers", {}, timeout=15) for p in self.people.values())
        )

    def clear(self) -> None:
        for person in self.people.values():
            person.events.clear()


# -- what an event needs beforehand, sends, and shows ---------------------------------

Setup = Callable[[Cast, str], Awaitable[None]]
Payload = Callable[[Cast, str], Awaitable[dict[str, Any]]]
Check = Callable[[Cast, str, dict[str, Any]], Awaitable[None]]


async def nothing(cast: Cast, actor: str) -> None:
    return None


def fixed(payload: dict[str, Any]) -> Payload:
    async def make(cast: Cast, actor: str) -> dict[str, Any]:
        return payload

    return make


NO_PAYLOAD = fixed({})


def of_witness(make: Callable[[str], dict[str, Any]]) -> Payload:
    async def payload(cast: Cast, actor: str) -> dict[str, Any]:
        return make(cast.pid(WITNESS))

    return payload


def seen(event: ServerEvent, by: str = WITNESS) -> Check:
    """Another participant (``by``; "actor": the sender's own connection) receives it."""

    async def check(cast: Cast, actor: str, reply: dict[str, Any]) -> None:
        seer = cast[actor if by == "actor" else by]
        await wait_until(
            lambda: any(name == event for name, _ in seer.events), 10, f"{by} receiving {event}"
        )

    return check


async def changes_nothing(cast: Cast, actor: str, reply: dict[str, Any]) -> None:
    """Allowed, and by design without effect here: checked by the state comparison."""
    return None


def replied(key: str) -> Check:
    """A read: its result is in the acknowledgement (and it changes nothing)."""

    async def check(cast: Cast, actor: str, reply: dict[str, Any]) -> None:
        assert reply.get(key) is not None, reply

    return check


async def attempt(cast: Cast, key: str, event: str, payload: Any = None) -> None:
    """A setup step that may be refused for this actor: the case's own call is judged."""
    await cast.call(key, event, payload)


@dataclass(frozen=True)
class WaitingOrAdmitted:
    """An effect that shows differently for someone waiting (to facilitators only)."""

    waiting: Check
    admitted: Check


@dataclass(frozen=True)
class Case:
    event: ClientEvent
    effect: Check | WaitingOrAdmitted
    payload: Payload = NO_PAYLOAD
    setup: Setup = nothing
    variant: str | None = None  # a use the docs' "(variant: roles)" note names
    media: bool = False  # the people are aiortc peers
    read: bool = False  # answers in its acknowledgement and changes nothing
    # Allowed by the "who" column, but the precondition is impossible for this actor:
    # the code their state gets, and why (docs/protocol.md says so).
    impossible: tuple[tuple[str, str, str], ...] = ()

    @property
    def name(self) -> str:
        return self.event.value + (f"[{self.variant}]" if self.variant else "")

    def effect_for(self, actor: str) -> Check:
        if isinstance(self.effect, WaitingOrAdmitted):
            waiting = actor.startswith("waiting_")
            return self.effect.waiting if waiting else self.effect.admitted
        return self.effect


# Setups ------------------------------------------------------------------------------


async def ask_actor_to_unmute(cast: Cast, actor: str) -> None:
    await attempt(
        cast,
        "facilitator",
        "ask_to_unmute",
        {"participant_id": cast.pid(actor), "device": "camera"},
    )


async def actor_requests_check_in(cast: Cast, actor: str) -> None:
    await attempt(cast, actor, "request_check_in")


async def actor_may_share(cast: Cast, actor: str) -> None:
    await attempt(
        cast,
        "facilitator",
        "allow_screen_share",
        {"participant_id": cast.pid(actor), "allowed": True},
    )


async def actor_shares(cast: Cast, actor: str) -> None:
    await actor_may_share(cast, actor)
    await attempt(cast, actor, "start_screen_share")


async def witness_shares(cast: Cast, actor: str) -> None:
    await actor_shares(cast, WITNESS)
    assert cast.server.room(cast.room_id).screen_sharer_id == cast.pid(WITNESS)


async def someone_ready_waits(cast: Cast, actor: str) -> None:
    ready = await arrive(cast, Role.MEMBER, "Ready", media=False)
    cast.people["ready"] = ready
    await cast.must("ready", "accept_ground_rules")


async def witness_holds_floor(cast: Cast, actor: str) -> None:
    await cast.must("facilitator", "give_floor", {"participant_id": cast.pid(WITNESS)})


async def actor_holds_floor(cast: Cast, actor: str) -> None:
    await attempt(cast, "facilitator", "give_floor", {"participant_id": cast.pid(actor)})


async def actor_speaks_in_a_round(cast: Cast, actor: str) -> None:
    await attempt(
        cast,
        "facilitator",
        "start_round",
        {"order": "chosen", "participant_ids": [cast.pid(actor)]},
    )


async def a_round_runs(cast: Cast, actor: str) -> None:
    await cast.must(
        "facilitator",
        "start_round",
        {"order": "chosen", "participant_ids": [cast.pid(WITNESS)], "turn_seconds": 600},
    )


async def witness_requests_check_in(cast: Cast, actor: str) -> None:
    await cast.must(WITNESS, "request_check_in")


async def witness_in_spotlight(cast: Cast, actor: str) -> None:
    await cast.must("facilitator", "spotlight", {"participant_id": cast.pid(WITNESS)})


async def witness_aside(cast: Cast, actor: str) -> None:
    await cast.must("facilitator", "open_side_room", {"participant_ids": [cast.pid(WITNESS)]})


# Media -------------------------------------------------------------------------------


def hears(listener: str, publisher: str) -> Callable[[Cast, str], Awaitable[None]]:
    async def check(cast: Cast, actor: str) -> None:
        who = {"actor": actor}
        listening: WirePeer = cast[who.get(listener, listener)]
        speaking: WirePeer = cast[who.get(publisher, publisher)]
        await wait_until(
            lambda: listening.reception(speaking.participant_id, TrackKind.AUDIO).matching >= 3,
            20,
            f"{listening.name} decoding {speaking.name}'s tone",
        )

    return check


async def offer_from(peer: WirePeer) -> dict[str, Any]:
    """The peer's real publish offer: its tone and colour, as WirePeer.publish makes it."""
    pc = peer.publish_pc
    pc.addTransceiver(ToneTrack(TONES_HZ[peer.index]), direction="sendonly")
    pc.addTransceiver(ColourTrack(COLOURS[peer.index]), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    return {"sdp": pc.localDescription.sdp, "type": "offer"}


async def publish_payload(cast: Cast, actor: str) -> dict[str, Any]:
    return await offer_from(cast[actor])


async def witness_subscribes(cast: Cast, actor: str) -> None:
    await cast.must(WITNESS, "subscribe")


async def published(cast: Cast, actor: str, reply: dict[str, Any]) -> None:
    peer: WirePeer = cast[actor]
    await peer.publish_pc.setRemoteDescription(
        RTCSessionDescription(sdp=reply["sdp"], type=reply["type"])
    )
    await hears(WITNESS, "actor")(cast, actor)


async def witness_publishes(cast: Cast, actor: str) -> None:
    await cast[WITNESS].publish()


async def subscribed(cast: Cast, actor: str, reply: dict[str, Any]) -> None:
    await hears("actor", WITNESS)(cast, actor)


async def offer_pending_for_actor(cast: Cast, actor: str) -> None:
    await witness_publishes(cast, actor)
    cast[actor].answer_offers = False
    if (await cast.call(actor, "subscribe"))["ok"]:
        peer: WirePeer = cast[actor]
        await wait_until(lambda: bool(peer.received_events("subscriber_offer")), 10, "an offer")


async def answer_payload(cast: Cast, actor: str) -> dict[str, Any]:
    peer: WirePeer = cast[actor]
    offers = peer.received_events("subscriber_offer")
    if not offers:
        return await an_answer_for_nobody()
    offer = offers[-1]
    tracks = _forwarded(offer["tracks"])
    answer = await peer.answer_offer(offer["sdp"], offer["revision"], tracks)
    return {"sdp": answer.sdp, "type": answer.type, "revision": offer["revision"]}


async def an_answer_for_nobody() -> dict[str, Any]:
    """A real answer SDP, for senders who were never offered anything."""
    offerer, answerer = RTCPeerConnection(), RTCPeerConnection()
    try:
        offerer.addTransceiver("audio", direction="sendonly")
        await offerer.setLocalDescription(await offerer.createOffer())
        await answerer.setRemoteDescription(offerer.localDescription)
        await answerer.setLocalDescription(await answerer.createAnswer())
        return {"sdp": answerer.localDescription.sdp, "type": "answer", "revision": 1}
    finally:
        await offerer.close()
        await answerer.close()


async def actor_answers_without_candidates(cast: Cast, actor: str) -> None:
    """The actor answers its subscribe offer as a trickling browser does: the answer
    without its candidates, which follow one by one."""
    await offer_pending_for_actor(cast, actor)
    peer: WirePeer = cast[actor]
    if not peer.received_events("subscriber_offer"):
        return  # refused: this actor may not subscribe
    answer = await answer_payload(cast, actor)
    lines = answer["sdp"].split("\r\n")
    kept = [line for line in lines if not line.startswith(("a=candidate:", "a=end-of-candidates"))]
    await cast.must(actor, "subscriber_answer", {**answer, "sdp": "\r\n".join(kept)})


async def candidate_payload(cast: Cast, actor: str) -> dict[str, Any]:
    """One of the actor's own candidates for its subscribe connection, trickled."""
    local = cast[actor].subscribe_pc.localDescription
    if local is None:  # never offered anything: a candidate like any other
        line = f"a=candidate:1 1 udp 2122260223 192.0.2.1 {next(_ports)} typ host"
    else:
        line = next(line for line in local.sdp.split("\r\n") if line.startswith("a=candidate:"))
    cast.trickled_port = int(line.split()[5])
    return {"leg": "subscribe", "candidate": line[2:], "sdpMid": "0", "sdpMLineIndex": 0}


async def candidate_added(cast: Cast, actor: str, reply: dict[str, Any]) -> None:
    """ICE candidates are between one client and the server: the effect is on the
    server's connection for that client, which now has it."""
    media = cast.plane._existing_participant(cast.room_id, cast.pid(actor))
    assert media is not None and media.subscription is not None
    transports = {t.sender.transport.transport for t in media.subscription.pc.getTransceivers()}
    ports = {c.port for transport in transports for c in transport.getRemoteCandidates()}
    assert cast.trickled_port in ports, "the trickled candidate is not on the server's connection"


async def actor_subscribes_to_witness(cast: Cast, actor: str) -> None:
    await witness_publishes(cast, actor)
    await attempt(cast, actor, "subscribe")  # refused while waiting: the case expects that


async def view_payload(cast: Cast, actor: str) -> dict[str, Any]:
    """The actor hides the witness's tile."""
    tile = {"participant_id": cast.pid(WITNESS), "visible": False, "width": 0, "height": 0}
    return {"tiles": [tile]}


async def view_applied(cast: Cast, actor: str, reply: dict[str, Any]) -> None:
    """A view is between one subscriber and the server: the media plane now holds it
    (and the layers it picks follow from it; tests/server/sfu/test_simulcast.py)."""
    media = cast.plane._existing_participant(cast.room_id, cast.pid(actor))
    assert media is not None
    tile = media.view.get(cast.pid(WITNESS))
    assert tile is not None and not tile.visible, "the reported view is not the plane's"


async def actor_publishes_to_witness(cast: Cast, actor: str) -> None:
    await witness_subscribes(cast, actor)
    peer: WirePeer = cast[actor]
    reply = await cast.call(actor, "publish", await offer_from(peer))
    if reply["ok"]:
        await published(cast, actor, reply)
    else:
        await attempt(cast, actor, "subscribe")  # an observer's media is their subscription


async def media_restarted(cast: Cast, actor: str, reply: dict[str, Any]) -> None:
    """The server dropped the actor's connections: whoever received them is offered the
    session again without them."""
    assert media_held(cast.plane, cast.room_id, cast.pid(actor)) is None
    if ACTORS[actor] is Role.OBSERVER:
        return  # they published nothing for anyone to lose
    witness: WirePeer = cast[WITNESS]
    await wait_until(
        lambda: cast.pid(actor) not in witness.subscribed_to(), 10, "the witness offered anew"
    )


def _forwarded(tracks: list[dict[str, Any]]) -> list[ForwardedTrack]:
    return [ForwardedTrack(t["mid"], t["participant_id"], TrackKind(t["kind"])) for t in tracks]


FACILITATORS_ONLY = "nobody outranks a facilitator, so nobody may ask one (docs: Equal rank)"

CASES = [
    Case(
        ClientEvent.LEAVE,
        WaitingOrAdmitted(
            seen(ServerEvent.PARTICIPANT_LEFT, WATCHER), seen(ServerEvent.PARTICIPANT_LEFT)
        ),
    ),
    Case(
        ClientEvent.ACCEPT_GROUND_RULES,
        # Whoever is admitted has accepted them already (or needs not).
        WaitingOrAdmitted(seen(ServerEvent.PARTICIPANT_WAITING, WATCHER), changes_nothing),
    ),
    Case(
        ClientEvent.SET_MEDIA,
        seen(ServerEvent.MEDIA_CHANGED),
        fixed({"device": "camera", "on": True}),
    ),
    Case(
        ClientEvent.ANSWER_UNMUTE_REQUEST,
        seen(ServerEvent.UNMUTE_REQUEST_ANSWERED, WATCHER),
        fixed({"device": "camera", "accept": True}),
        ask_actor_to_unmute,
        impossible=(("facilitator", "no_pending_request", FACILITATORS_ONLY),),
    ),
    Case(ClientEvent.RAISE_HAND, seen(ServerEvent.HAND_QUEUE_CHANGED)),
    Case(ClientEvent.SEND_CHAT, seen(ServerEvent.CHAT_MESSAGE), fixed({"text": "hello"})),
    Case(
        ClientEvent.SEND_CHAT,
        seen(ServerEvent.CHAT_MESSAGE, WATCHER),
        fixed({"text": "a word, privately", "to_facilitators": True}),
        variant="to facilitators",
    ),
    Case(ClientEvent.REQUEST_CHECK_IN, seen(ServerEvent.CHECK_IN_CHANGED, WATCHER)),
    Case(
        ClientEvent.CANCEL_CHECK_IN,
        seen(ServerEvent.CHECK_IN_CHANGED, WATCHER),
        setup=actor_requests_check_in,
    ),
    Case(
        ClientEvent.START_SCREEN_SHARE,
        seen(ServerEvent.SCREEN_SHARE_CHANGED),
        setup=actor_may_share,
    ),
    Case(ClientEvent.STOP_SCREEN_SHARE, seen(ServerEvent.SCREEN_SHARE_CHANGED), setup=actor_shares),
    Case(
        ClientEvent.STOP_SCREEN_SHARE,
        seen(ServerEvent.SCREEN_SHARE_CHANGED, WATCHER),
        of_witness(lambda pid: {"participant_id": pid}),
        witness_shares,
        variant="someone else's",
    ),
    Case(ClientEvent.ADMIT_ALL, seen(ServerEvent.PARTICIPANT_ADMITTED), setup=someone_ready_waits),
    Case(ClientEvent.UPDATE_SETTINGS, seen(ServerEvent.SETTINGS_CHANGED), fixed({"locked": True})),
    Case(ClientEvent.MUTE_ALL, seen(ServerEvent.MEDIA_CHANGED)),
    Case(ClientEvent.END_SESSION, seen(ServerEvent.SESSION_ENDED), fixed({"reason": "done"})),
    Case(ClientEvent.SET_FLOOR_MODE, seen(ServerEvent.FLOOR_CHANGED), fixed({"on": True})),
    Case(ClientEvent.TAKE_BACK_FLOOR, seen(ServerEvent.FLOOR_CHANGED), setup=witness_holds_floor),
    Case(ClientEvent.YIELD_FLOOR, seen(ServerEvent.FLOOR_CHANGED), setup=actor_holds_floor),
    Case(ClientEvent.START_ROUND, seen(ServerEvent.ROUND_CHANGED), fixed({"order": "join"})),
    Case(
        ClientEvent.FINISH_TURN,
        seen(ServerEvent.ROUND_CHANGED),
        fixed({"passed": True}),
        actor_speaks_in_a_round,
    ),
    Case(ClientEvent.SKIP_TURN, seen(ServerEvent.ROUND_CHANGED), setup=a_round_runs),
    Case(
        ClientEvent.EXTEND_TURN,
        seen(ServerEvent.ROUND_CHANGED),
        fixed({"seconds": 30}),
        a_round_runs,
    ),
    Case(ClientEvent.END_ROUND, seen(ServerEvent.ROUND_CHANGED), setup=a_round_runs),
    Case(
        ClientEvent.SET_GROUND_RULES,
        seen(ServerEvent.GROUND_RULES_CHANGED),
        fixed({"text": "Be kind, and brief."}),
    ),
    Case(
        ClientEvent.SET_SCHEDULE,
        seen(ServerEvent.SCHEDULE_CHANGED),
        fixed({"ends_at": 4_000_000_000}),
    ),
    Case(ClientEvent.GET_AUDIT, replied("records"), read=True),
    Case(
        ClientEvent.ACKNOWLEDGE_CHECK_IN,
        seen(ServerEvent.CHECK_IN_CHANGED),  # the witness is the member who asked
        of_witness(lambda pid: {"participant_id": pid}),
        witness_requests_check_in,
    ),
    Case(
        ClientEvent.SPOTLIGHT,
        seen(ServerEvent.SPOTLIGHT_CHANGED),
        of_witness(lambda pid: {"participant_id": pid}),
    ),
    Case(
        ClientEvent.CLEAR_SPOTLIGHT, seen(ServerEvent.SPOTLIGHT_CHANGED), setup=witness_in_spotlight
    ),
    Case(
        ClientEvent.ALLOW_SCREEN_SHARE,
        seen(ServerEvent.SCREEN_SHARE_PERMISSION_CHANGED),  # the facilitators and that member
        of_witness(lambda pid: {"participant_id": pid, "allowed": True}),
    ),
    Case(
        ClientEvent.OPEN_SIDE_ROOM,
        seen(ServerEvent.SIDE_ROOMS_CHANGED),
        of_witness(lambda pid: {"participant_ids": [pid]}),
    ),
    Case(
        ClientEvent.MOVE_TO_SIDE_ROOM,
        seen(ServerEvent.SIDE_ROOMS_CHANGED),
        of_witness(lambda pid: {"participant_id": pid, "side_room_id": None}),
        witness_aside,
    ),
    Case(
        ClientEvent.CLOSE_SIDE_ROOM,
        seen(ServerEvent.SIDE_ROOMS_CHANGED),
        fixed({"side_room_id": "side-1"}),
        witness_aside,
    ),
    Case(
        ClientEvent.BRING_EVERYONE_BACK, seen(ServerEvent.SIDE_ROOMS_CHANGED), setup=witness_aside
    ),
    Case(ClientEvent.REFRESH_ICE_SERVERS, replied("ice_servers"), read=True),
    # Media, through the real media plane.
    Case(ClientEvent.PUBLISH, published, publish_payload, witness_subscribes, media=True),
    Case(ClientEvent.SUBSCRIBE, subscribed, setup=witness_publishes, media=True),
    Case(
        ClientEvent.SUBSCRIBER_ANSWER,
        subscribed,
        answer_payload,
        offer_pending_for_actor,
        media=True,
    ),
    Case(
        ClientEvent.ICE_CANDIDATE,
        candidate_added,
        candidate_payload,
        actor_answers_without_candidates,
        media=True,
    ),
    Case(ClientEvent.RESTART_MEDIA, media_restarted, setup=actor_publishes_to_witness, media=True),
    Case(
        ClientEvent.REPORT_VIEW,
        view_applied,
        view_payload,
        actor_subscribes_to_witness,
        media=True,
    ),
]

# Not here: ``join`` (every case's people join, by role; its token rules are in
# test_tokens.py) and the commands aimed at someone (test_target_matrix.py).
ELSEWHERE = {ClientEvent.JOIN} | {ClientEvent(aimed.event) for aimed in AIMED}


def test_every_client_event_is_in_a_matrix() -> None:
    here = {case.event for case in CASES}
    assert here | ELSEWHERE == set(ROUTES), set(ROUTES) - here - ELSEWHERE
    assert not here & ELSEWHERE


def expected(case: Case, actor: str) -> str:
    """ "ok", or the code the documentation gives this actor."""
    role = ACTORS[actor]
    if role not in documented_senders(case.event.value, case.variant):
        return "permission_denied"
    if actor.startswith("waiting_") and case.event.value not in sendable_while_waiting():
        return "not_in_room"
    for who, code, _why in case.impossible:
        if who == actor:
            return code
    return "ok"


# -- the people ----------------------------------------------------------------------


async def arrive(cast: Cast, role: Role, name: str, *, media: bool, mic: bool = False) -> Any:
    """Connect and join; a WirePeer (with its aiortc connections) for the media events."""
    person: Any
    if media:
        index = len(cast.people) % len(TONES_HZ)  # the witness and the actors differ
        person = WirePeer(cast.server, cast.room_id, name, index=index, role=role)
        await person.sio.connect(cast.server.url, transports=["websocket"], wait_timeout=5)
    else:
        sio = socketio.AsyncClient(reconnection=False)
        person = Client(sio)

        async def record(event: str, data: Any = None) -> None:
            person.events.append((event, data))

        sio.on("*", record)
        await sio.connect(cast.server.url, transports=["websocket"], wait_timeout=5)
    token = cast.server.token(cast.room_id, role, name)
    reply = await person.sio.call("join", {"token": token, "microphone": mic}, timeout=15)
    assert reply["ok"], reply
    person.participant_id = reply["snapshot"]["you"]["participant_id"]
    return person


async def gather_cast(server: RunningServer, media: bool) -> Cast:
    cast = Cast(server, f"m{next(_rooms)}")
    people = cast.people

    async def come(key: str, role: Role, *, admitted: bool = True, mic: bool = True) -> None:
        people[key] = await arrive(cast, role, key.title(), media=media, mic=mic)
        if admitted and not role.facilitates:
            await cast.must(key, "accept_ground_rules")

    await come("facilitator", Role.FACILITATOR)
    await cast.must("facilitator", "set_ground_rules", {"text": GROUND_RULES})
    await cast.must("facilitator", "update_settings", {"auto_admit": True})
    await come(WATCHER, Role.FACILITATOR)
    await come("cofacilitator", Role.COFACILITATOR)
    await come("member", Role.MEMBER)
    await come("observer", Role.OBSERVER, mic=False)
    await come(WITNESS, Role.MEMBER)
    await cast.must("facilitator", "update_settings", {"auto_admit": False})
    await come("waiting_member", Role.MEMBER, admitted=False)
    await come("waiting_observer", Role.OBSERVER, admitted=False, mic=False)
    room = server.room(cast.room_id)
    assert {p.id for p in room.waiting()} == {
        cast.pid("waiting_member"),
        cast.pid("waiting_observer"),
    }
    if media:
        for a, b in itertools.permutations(people.values(), 2):
            a.identities[b.participant_id] = b.index
    return cast


async def dismiss(cast: Cast) -> None:
    room = cast.server.room(cast.room_id)
    if room is not None and not room.ended:
        await cast.server.app[SIGNALING].end_room_by_operator(room, "op_tests", "case over")
    await asyncio.gather(
        *(
            p.close() if isinstance(p, WirePeer) else p.sio.disconnect()
            for p in cast.people.values()
        )
    )


def media_held(plane: RtpForwardingMediaPlane, room_id: str, participant_id: str) -> Any:
    """What the media plane holds for someone: their connections and tracks, or None.
    (It keeps what each may send for everyone admitted, media or not: that is no media.)"""
    held = plane._existing_participant(room_id, participant_id)
    if held is None:
        return None
    view = (held.publish_pc is not None, held.subscription is not None, sorted(held.tracks))
    return None if view == (False, False, []) else view


def state(cast: Cast) -> Any:
    """The room as its record keeps it, and what the media plane holds for each person."""
    room = cast.server.room(cast.room_id)
    media = {
        key: media_held(cast.plane, cast.room_id, person.participant_id)
        for key, person in cast.people.items()
    }
    return room.to_record(), media


def room_events(person: Any) -> list[tuple[str, Any]]:
    return [(name, data) for name, data in person.events if name not in MEDIA_NOISE]


# -- the matrix ------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def media_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningServer]:
    """One server for the module, its media plane on; each case has a room of its own."""
    runner, server = await start_server(
        tmp_path_factory.mktemp("matrix"),
        media_factory=default_media,
        rate_limit_per_s=0,
        joins_per_minute=0,
        max_rooms=0,
    )
    yield server
    await runner.cleanup()


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("actor", list(ACTORS))
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_event_for_each_role(media_server: RunningServer, case: Case, actor: str) -> None:
    cast = await gather_cast(media_server, case.media)
    try:
        await case.setup(cast, actor)
        await cast.settle()
        payload = await case.payload(cast, actor)
        cast.clear()
        before = state(cast)

        reply = await cast.call(actor, case.event.value, payload)

        outcome = expected(case, actor)
        if outcome != "ok":
            assert reply["ok"] is False and reply["error"]["code"] == outcome, (outcome, reply)
            assert reply["error"]["message"]
            await cast.settle()
            assert state(cast) == before, "a refused event changed something"
            for key, person in cast.people.items():
                assert room_events(person) == [], (key, person.events)
            return
        assert reply["ok"] is True, reply
        effect = case.effect_for(actor)
        await effect(cast, actor, reply)
        if case.read or effect is changes_nothing:
            await cast.settle()
            assert state(cast) == before
    finally:
        await dismiss(cast)
