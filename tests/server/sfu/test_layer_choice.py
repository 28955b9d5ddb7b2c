"""The selection rule (server/sfu/layer_choice.py) and the downlink budget (downlink.py):
examples, and properties over any room hypothesis makes up."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from server.sfu.downlink import HOLD_S, DownlinkEstimate
from server.sfu.layer_choice import (
    BASE_TEMPORAL_SHARE,
    UP_HEADROOM,
    LayerOption,
    VideoSource,
    choose,
    relevance_order,
)
from server.sfu.simulcast_sdp import complete_answer, offered_simulcast
from signaling.media import TileView, VideoPause
from tests.server.sfu.doubles import ManualClock

RATES = {"q": 150_000.0, "h": 500_000.0, "f": 1_200_000.0}
HEIGHTS = {"q": 120, "h": 240, "f": 480}


def camera(
    pid: str,
    tile: TileView | None = None,
    *,
    speaker: bool = False,
    priority: bool = False,
    current: str | None = None,
    temporal: bool = False,
    live: tuple[str, ...] = ("q", "h", "f"),
) -> VideoSource:
    layers = tuple(
        LayerOption(rid, HEIGHTS[rid], RATES[rid], rid in live, temporal) for rid in RATES
    )
    return VideoSource(pid, layers, tile, speaker, priority, current)


def tile(pid: str, height: int, visible: bool = True) -> TileView:
    return TileView(pid, visible, height * 4 // 3 if visible else 0, height if visible else 0)


def picked(choices: list, pid: str) -> tuple[str | None, VideoPause | None]:  # type: ignore[type-arg]
    choice = next(c for c in choices if c.participant_id == pid)
    return choice.layer, choice.paused


def test_tile_size_picks_the_lowest_layer_that_covers_it() -> None:
    sources = [
        camera("thumb", tile("thumb", 90)),
        camera("mid", tile("mid", 200)),
        camera("big", tile("big", 700)),
        camera("unreported"),
        camera("hidden", tile("hidden", 0, visible=False)),
    ]
    choices = choose(sources, None)
    assert picked(choices, "thumb") == ("q", None)
    assert picked(choices, "mid") == ("h", None)
    assert picked(choices, "big") == ("f", None)
    assert picked(choices, "unreported") == ("f", None)
    assert picked(choices, "hidden") == (None, VideoPause.HIDDEN)


def test_a_tight_budget_pauses_the_least_relevant_first() -> None:
    sources = [
        camera("a-member", tile("a-member", 480)),
        camera("speaker", tile("speaker", 480), speaker=True),
        camera("facilitator", tile("facilitator", 480), priority=True),
    ]
    # Room for two base layers (starting one needs UP_HEADROOM of the budget spare).
    choices = choose(sources, 2.5 * RATES["q"])
    assert picked(choices, "speaker") == ("q", None)
    assert picked(choices, "facilitator") == ("q", None)
    assert picked(choices, "a-member") == (None, VideoPause.BANDWIDTH)
    assert [s.participant_id for s in relevance_order(sources)] == [
        "speaker",
        "facilitator",
        "a-member",
    ]


def test_temporal_layers_are_dropped_before_a_video_is_paused() -> None:
    sources = [camera("speaker", speaker=True, temporal=True), camera("other", temporal=True)]
    choices = choose(sources, RATES["q"] * 1.2)
    speaker = next(c for c in choices if c.participant_id == "speaker")
    assert (speaker.layer, speaker.temporal) == ("q", None)
    other = next(c for c in choices if c.participant_id == "other")
    assert (other.layer, other.temporal, other.paused) == (None, None, VideoPause.BANDWIDTH)
    choices = choose(sources, RATES["q"] * (1 + BASE_TEMPORAL_SHARE) / (1 - UP_HEADROOM) + 1)
    other = next(c for c in choices if c.participant_id == "other")
    assert (other.layer, other.temporal) == ("q", 0)


def test_hysteresis_keeps_what_fits_and_climbs_only_with_room_to_spare() -> None:
    budget = RATES["h"] * 1.05
    # Receiving h now: it still fits, so it stays.
    assert picked(choose([camera("a", current="h")], budget), "a") == ("h", None)
    # Receiving q now: going up to h would leave less than the headroom.
    assert picked(choose([camera("a", current="q")], budget), "a") == ("q", None)


def test_layers_not_being_sent_are_not_chosen_but_are_still_wanted() -> None:
    choice = choose([camera("a", live=("q",))], None)[0]
    assert (choice.layer, choice.wanted) == ("q", "f")
    nothing = choose([camera("a", live=())], None)[0]
    assert (nothing.layer, nothing.paused) == (None, None)  # a muted camera: no pause to explain


rooms = st.lists(
    st.builds(
        camera,
        st.uuids().map(str),
        st.one_of(
            st.none(),
            st.builds(
                TileView,
                st.just("x"),
                st.booleans(),
                st.integers(0, 2000),
                st.integers(0, 2000),
            ),
        ),
        speaker=st.booleans(),
        priority=st.booleans(),
        current=st.sampled_from([None, "q", "h", "f"]),
        temporal=st.booleans(),
    ),
    max_size=15,
)


@settings(max_examples=300, deadline=None)
@given(sources=rooms, budget=st.floats(0, 20_000_000))
def test_any_room_stays_within_budget_and_keeps_its_order(
    sources: list[VideoSource], budget: float
) -> None:
    choices = {c.participant_id: c for c in choose(sources, budget)}
    spent = 0.0
    for source in sources:
        choice = choices[source.participant_id]
        hidden = source.tile is not None and (
            not source.tile.visible or source.tile.width <= 0 or source.tile.height <= 0
        )
        if hidden:
            assert (choice.layer, choice.paused) == (None, VideoPause.HIDDEN)
        if choice.layer is not None:
            rate = RATES[choice.layer]
            spent += rate * (BASE_TEMPORAL_SHARE if choice.temporal == 0 else 1)
    assert spent <= budget + 1e-6
    # Whoever is paused for bandwidth is less relevant than everyone who got video.
    order = [s.participant_id for s in relevance_order(sources)]
    got = [order.index(p) for p, c in choices.items() if c.layer is not None]
    paused = [order.index(p) for p, c in choices.items() if c.paused is VideoPause.BANDWIDTH]
    if got and paused:
        assert min(paused) > min(got)


def test_the_budget_follows_remb_and_loss_and_holds_longer_after_a_failed_step() -> None:
    clock = ManualClock()
    downlink = DownlinkEstimate(clock)
    assert downlink.budget(1_000_000, None) is None  # nothing reported: no cap
    assert not downlink.probing
    downlink.remb(1_500_000)
    # The estimate keeps up with what is sent: no cap, but layers go up gradually.
    assert downlink.budget(1_000_000, 0.0) is None and downlink.probing
    # It falls below what is sent: the budget comes down to it, and stays down a while.
    downlink.remb(700_000)
    assert downlink.budget(1_000_000, 0.0) is None  # once may be noise (a keyframe)
    assert downlink.budget(1_000_000, 0.0) is None
    assert downlink.budget(1_000_000, 0.0) == 700_000 and not downlink.probing
    clock.now += 1
    downlink.remb(1_000_000)
    assert downlink.budget(650_000, 0.0) == 700_000
    clock.now += HOLD_S
    assert downlink.budget(650_000, 0.0) is None and downlink.probing
    # The step up brought congestion back at once: a longer hold this time.
    clock.now += 1
    downlink.remb(400_000)
    assert downlink.budget(1_000_000, 0.0) == 400_000  # far below: believed at once
    clock.now += HOLD_S + 1
    downlink.remb(900_000)
    assert downlink.budget(600_000, 0.0) == 400_000
    clock.now += HOLD_S
    downlink.remb(900_000)
    assert downlink.budget(600_000, 0.0) is None
    # Heavy loss counts as congestion whatever REMB says (and is marked as loss alone).
    assert downlink.budget(1_000_000, 0.3) == 1_000_000 * 0.85 and downlink.loss_only


def test_while_probing_only_one_camera_goes_up_per_round() -> None:
    sources = [camera("a", current="q"), camera("b", current="q"), camera("c")]
    choices = {c.participant_id: c.layer for c in choose(sources, None, max_raises=1)}
    assert sorted(choices.values()) == ["f", "q", "q"]  # c starts on q; one goes to f


def test_a_camera_waiting_for_its_keyframe_does_not_starve_the_others_of_going_up() -> None:
    """The speaker's leg waits for its f keyframe (current q, target f) round after
    round; the priority camera behind it still gets the round's step up."""
    waiting = camera("speaker", speaker=True, current="q")
    waiting = VideoSource(
        waiting.participant_id, waiting.layers, None, True, False, "q", None, target="f"
    )
    behind = camera("facilitator", priority=True, current="q")
    for _ in range(3):
        choices = {c.participant_id: c.layer for c in choose([waiting, behind], None, 1)}
        assert choices["speaker"] == "f"
        assert choices["facilitator"] in ("h", "f")


OFFER = "\r\n".join(
    [
        "v=0",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "a=mid:0",
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97",
        "a=mid:1",
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
        "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
        "a=rid:q send",
        "a=rid:h send",
        "a=rid:x send",
        "a=rid:f send max-width=1280",
        "a=simulcast:send ~q;h,x;f",
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97",
        "a=mid:2",
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
        "a=rid:q send",
        "a=simulcast:send q",
        "",
    ]
)


def test_an_offer_s_simulcast_is_read_and_answered_with_the_known_rids_only() -> None:
    offered = offered_simulcast(OFFER, skip_mid="2")
    assert list(offered) == ["1"]
    section = offered["1"]
    assert section.rids == ("q", "h", "f")  # x is not a layer we know; ~q is still a layer
    assert section.extension_ids["urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"] == 10
    answer = complete_answer("v=0\r\nm=video 9 x 96\r\na=mid:1\r\na=sendrecv\r\n", offered)
    assert "a=mid:1\r\na=rid:q recv\r\na=rid:h recv\r\na=rid:f recv\r\n" in answer
    assert "a=simulcast:recv q;h;f\r\na=sendrecv" in answer
    # The screen's section is never simulcast; without it, the other section is.
    assert set(offered_simulcast(OFFER)) == {"1", "2"}
