"""Fixtures shared by the media-plane tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender
import pytest

from server.sfu import RtpForwardingMediaPlane
from tests.netns import NamespaceUnavailable, NetworkNamespace, network_namespace
from tests.server.sfu.peers import RelaySignals, Session


@dataclass
class CodecCount:
    """How many encoders and decoders aiortc built in this process (clients included)."""

    encoders: int = 0
    decoders: int = 0
    encoder_owners: list[object] = field(default_factory=list)


@pytest.fixture
def codec_count(monkeypatch: pytest.MonkeyPatch) -> CodecCount:
    count = CodecCount()
    real_get_encoder: Callable[..., Any] = aiortc.rtcrtpsender.get_encoder  # type: ignore[attr-defined]
    real_get_decoder: Callable[..., Any] = aiortc.rtcrtpreceiver.get_decoder  # type: ignore[attr-defined]

    def get_encoder(codec: Any) -> Any:
        count.encoders += 1
        return real_get_encoder(codec)

    def get_decoder(codec: Any) -> Any:
        count.decoders += 1
        return real_get_decoder(codec)

    monkeypatch.setattr(aiortc.rtcrtpsender, "get_encoder", get_encoder)
    monkeypatch.setattr(aiortc.rtcrtpreceiver, "get_decoder", get_decoder)
    return count


@pytest.fixture
async def session() -> AsyncIterator[Session]:
    plane = RtpForwardingMediaPlane()
    signals = RelaySignals()
    plane.attach(signals)
    yield Session(plane, signals)
    for client in list(signals.clients.values()):
        await client.close()
    await plane.close()


@pytest.fixture(scope="module")
def netns() -> Iterator[NetworkNamespace]:
    """A network namespace of the test module's own (tests/netns.py), deleted afterwards."""
    with ExitStack() as stack:
        try:
            namespace = stack.enter_context(network_namespace("gs-media"))
        except NamespaceUnavailable as exc:
            pytest.skip(f"no network namespace: {exc}")
        yield namespace
