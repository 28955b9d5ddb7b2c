"""VP8 keyframe detection, and pacing of keyframe requests to publishers."""

from __future__ import annotations

import asyncio

from server.sfu.copy_sender import PacketCopies
from server.sfu.keyframes import KeyframeRequester
from tests.server.sfu.peers import eventually


def is_vp8_keyframe_start(payload: bytes) -> bool:
    """Whether the forwarding path takes ``payload`` as the start of a VP8 keyframe."""
    copies = PacketCopies(
        marker=False, payload=payload, padding_size=0, abs_send_time=0, audio_level=None, vp8=True
    )
    return copies.keyframe


def test_vp8_keyframe_start_plain_descriptor() -> None:
    assert is_vp8_keyframe_start(bytes([0x10, 0x00, 0x9D]))  # S=1 PID=0, P=0
    assert not is_vp8_keyframe_start(bytes([0x10, 0x01]))  # interframe
    assert not is_vp8_keyframe_start(bytes([0x00, 0x00]))  # not a partition start
    assert not is_vp8_keyframe_start(bytes([0x11, 0x00]))  # partition 1
    assert not is_vp8_keyframe_start(b"")


def test_vp8_keyframe_start_with_extended_fields() -> None:
    # X=1; I=1 with a 15-bit picture id; L=1; T=1: header is 6 bytes long.
    descriptor = bytes([0x90, 0xE0, 0x80 | 0x12, 0x34, 0x05, 0x20])
    assert is_vp8_keyframe_start(descriptor + bytes([0x00]))
    assert not is_vp8_keyframe_start(descriptor + bytes([0x01]))
    # 7-bit picture id only.
    assert is_vp8_keyframe_start(bytes([0x90, 0x80, 0x12, 0x00]))
    assert not is_vp8_keyframe_start(bytes([0x90, 0x80]))  # truncated


async def test_keyframe_requests_are_coalesced_and_deferred_not_dropped() -> None:
    sent: list[float] = []
    loop = asyncio.get_running_loop()

    async def send_pli() -> None:
        sent.append(loop.time())

    requester = KeyframeRequester(send_pli, loop.time, min_interval_s=0.2)
    requester.request()
    await eventually(lambda: len(sent) == 1, 1, "first PLI sent at once")
    for _ in range(5):
        requester.request()  # inside the window: one deferred PLI covers them all
    assert requester.pending
    await eventually(lambda: len(sent) == 2, 1, "deferred PLI")
    assert sent[1] - sent[0] >= 0.19
    assert requester.sent_count == 2
    requester.close()


async def test_closed_requester_sends_nothing() -> None:
    sent: list[int] = []

    async def send_pli() -> None:
        sent.append(1)

    requester = KeyframeRequester(send_pli, asyncio.get_running_loop().time, 10)
    requester.request()
    requester.request()
    requester.close()
    await asyncio.sleep(0)
    assert len(sent) <= 1 and not requester.pending
