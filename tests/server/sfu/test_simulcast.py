"""Simulcast through the real media plane (issue 17), with aiortc peers that decode.

The scenario (tests/server/sfu/scenarios/simulcast.py) runs in a network
namespace of the test's own: two publishers that send their cameras as
Chrome does (three VP8 layers, rid simulcast, no a=ssrc; benchmarks/
simulcast.py) and subscribers with a large tile, a thumbnail, a hidden tile
and a downlink that says (REMB) it carries one low layer and the audio.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.netns import NetworkNamespace


@pytest.fixture(scope="module")
def outcome(netns: NetworkNamespace) -> dict[str, Any]:
    return netns.run_module("tests.server.sfu.scenarios.simulcast", timeout_s=240)


def test_the_publish_answer_takes_the_three_layers_and_the_plane_learns_them(
    outcome: dict[str, Any],
) -> None:
    assert outcome["answered_rids"] == ["q", "h", "f"]
    # Each layer's SSRC learnt from mid and rid (no a=ssrc), its size from its keyframes
    # (h is never asked for here: its size is known only if its first keyframe arrived
    # after the DTLS handshake, which the publisher's first frames may not).
    learnt = outcome["layers_learnt"]
    assert all(learnt[rid][0] for rid in ("q", "h", "f"))
    assert learnt["q"][1:] == [160, 120]
    assert learnt["f"][1:] == [640, 480]
    assert learnt["h"][1:] in ([320, 240], [0, 0])


def test_a_large_tile_gets_the_full_layer_a_thumbnail_the_lowest_a_hidden_tile_none(
    outcome: dict[str, Any],
) -> None:
    tiles = outcome["tiles"]
    assert tiles["big"] == [640]
    assert tiles["small"] == [160]
    assert tiles["hidden_frames"] == 0 and tiles["hidden_video_packets"] == 0
    assert tiles["hidden_audio_packets"] > 50  # a hidden tile still hears
    assert outcome["told"] == {
        "big": ["f", None],
        "small": ["q", None],
        "hidden": [None, "hidden"],
    }


def test_switching_down_and_up_keeps_the_decoder_fed_and_the_sequence_whole(
    outcome: dict[str, Any],
) -> None:
    switching = outcome["switching"]
    assert switching["switches"] >= 2
    assert switching["sequence_missing"] == 0
    assert switching["decode_errors"] == 0
    # At 30 fps, the switches and the second after them: frames never stopped for long.
    assert switching["frames_decoded"] > 30


def test_dynacast_pauses_a_layer_nobody_wants_and_resumes_it_at_once(
    outcome: dict[str, Any],
) -> None:
    assert outcome["layer_requests_while_small"] == [{"q": True, "h": False, "f": False}]
    # Resumed by the round that saw it wanted again (rounds are half a second apart).
    assert outcome["f_resumed_after_s"] < 1.5


def test_a_narrow_downlink_moves_down_and_pauses_the_less_relevant_camera_not_audio(
    outcome: dict[str, Any],
) -> None:
    assert outcome["limited_told"] == {"A": ["q", None], "B": [None, "bandwidth"]}
    widths = outcome["limited_widths"]
    assert widths["A"] == [160]
    assert widths["B"] == []
    # Audio of both kept flowing: about 50 packets a second each, over two seconds.
    assert min(outcome["limited_audio_packets"].values()) > 50
    quality = outcome["limited_quality"]
    assert quality["video_layers_received"]["q"] == 1
    assert quality["videos_paused"] == {"hidden": 0, "bandwidth": 1}
    # REMB's mantissa and exponent round the figure a little.
    assert quality["downlink_estimate_kbps"] == pytest.approx(
        outcome["limit_bps"] / 1000, rel=1e-3
    )
