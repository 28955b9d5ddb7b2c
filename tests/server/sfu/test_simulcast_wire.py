"""Three parts of the simulcast media plane (issue 17), end to end with real aiortc peers.

The scenario (tests/server/sfu/scenarios/simulcast_wire.py) runs in a network
namespace of the test's own and records what the peers receive on the wire:
- temporal layers: a subscriber whose REMB leaves room only for the lowest
  layer's base temporal layer gets TID 0 alone, with sequence numbers, picture
  ids and TL0PICIDX continuing without a gap; lifting the cap brings TID 1
  and 2 back from a TL0 frame;
- REMB to publishers: a simulcast camera is told at least
  ``SIMULCAST_REMB_FLOOR_BPS``, a plain aiortc publisher aiortc's own estimate;
- the datagram guard: authenticated packets on SSRCs beyond what a simulcast
  section's answered rids allow are dropped as ``unknown_ssrc``, and the
  camera's three layers and the other participants keep being served.
"""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.simulcast import TEMPORAL_PATTERN
from tests.netns import NetworkNamespace


@pytest.fixture(scope="module")
def outcome(netns: NetworkNamespace) -> dict[str, Any]:
    return netns.run_module("tests.server.sfu.scenarios.simulcast_wire", timeout_s=240)


def test_a_capped_leg_forwards_only_the_base_temporal_layer_without_gaps(
    outcome: dict[str, Any],
) -> None:
    temporal = outcome["temporal"]
    assert temporal["layer_temporal"] is True  # the plane saw TIDs above 0
    capped = temporal["capped"]
    # Driven through the plane's own selection (the test's REMB): the lowest layer,
    # base temporal layer only; nothing paused.
    assert capped["told"] == ["q", None]
    assert capped["frames"] >= 20
    assert capped["tids"] == [0]
    # Each picture dropped gave its id to the next; each forwarded one is a TL0 frame.
    assert capped["picture_id_steps"] == [1]
    assert capped["tl0picidx_steps"] == [1]
    # Another subscriber's leg of the same layer kept every temporal layer meanwhile.
    assert capped["uncapped_tids"] == [0, 1, 2]


def test_lifting_the_cap_resumes_the_higher_temporal_layers_at_a_tl0_frame(
    outcome: dict[str, Any],
) -> None:
    lifted = outcome["temporal"]["lifted"]
    assert lifted["told"] == ["q", None]
    # The TL0 frame the raise waited for, then the pattern as the publisher sends it.
    assert lifted["tids_from_last_tl0"] == [0, 2, 1, 2] * 3
    # The layer-sync bits pass through as sent: libwebrtc's 8-frame pattern, from either
    # of its two TL0 frames.
    pattern = [sync for _, sync in TEMPORAL_PATTERN] * 3
    assert lifted["sync_from_last_tl0"] in (pattern[:12], pattern[4:16])


def test_the_capped_subscriber_sees_one_unbroken_line_throughout(
    outcome: dict[str, Any],
) -> None:
    whole = outcome["temporal"]["whole"]
    # No sequence number missing (none to NACK), across the cap and its lifting.
    assert whole["sequence_missing"] == []
    assert whole["packets"] > 60
    assert whole["picture_id_steps"] == [1]
    # TL0PICIDX only ever moves on by one (at a TL0 frame) or stays (higher layers).
    assert whole["tl0picidx_steps"] == [0, 1]
    assert whole["switches"] == 0


def test_a_simulcast_publisher_is_told_at_least_the_floor_a_plain_one_its_estimate(
    outcome: dict[str, Any],
) -> None:
    floor = outcome["floor_bps"]
    remb = outcome["remb"]
    for publisher in ("A", "B"):
        assert remb[publisher]["count"] > 0
        assert remb[publisher]["lowest"] >= floor
    # The floor is what made it so: the estimate follows what arrives (about 1.5x).
    assert 1.5 * remb["B_received_bps"] < floor
    assert remb["C"]["count"] > 0
    assert 0 < remb["C"]["highest"] < floor


def test_ssrcs_beyond_the_answered_rids_are_dropped_and_the_layers_keep_flowing(
    outcome: dict[str, Any],
) -> None:
    extra = outcome["extra_ssrcs"]
    assert extra["sent"] == 90
    assert extra["unknown_ssrc_drops"] == extra["sent"]
    assert extra["layer_ssrcs_unchanged"] is True
    # No state was made for them, at the guard or in the track.
    before, after = extra["guard_accepted"]
    assert after == before
    before, after = extra["track_ssrc_state"]
    assert after == before
    tops = {"q": 160, "h": 320, "f": 640}
    for rid, layer in extra["layers"].items():
        assert max(layer["widths"]) == tops[rid]
        assert layer["marker_seen"] == 0
        assert layer["frames_during"] >= 15 and layer["frames_after"] >= 15
        assert layer["sequence_missing"] == []
    others = extra["others"]
    assert others["watcher_frames_after"]["A"] >= 15
    assert others["watcher_frames_after"]["C"] >= 5
    assert min(others["watcher_audio"].get(p, 0) for p in ("A", "B", "C")) > 50
