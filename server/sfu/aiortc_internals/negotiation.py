"""Negotiation and connections: codecs in answers, ICE candidates, the selected pair,
and closes that cannot hang.

Part of the aiortc quarantine: every private name used here is listed, and pinned,
in ``server/sfu/aiortc_internals/__init__.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiortc import (
    RTCIceCandidate,
    RTCPeerConnection,
    RTCRtpTransceiver,
)
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
)
from aiortc.sdp import candidate_from_sdp

from server.sfu.background import run_soon

logger = logging.getLogger(__name__)


def restrict_negotiated_codecs(
    transceiver: RTCRtpTransceiver, keep: Callable[[RTCRtpCodecParameters], bool]
) -> None:
    """Drop codecs from a transceiver's negotiated list before the local answer is made.

    aiortc applies setCodecPreferences() only to transceivers that exist
    before setRemoteDescription(); a publisher's transceivers are created by
    it, so the negotiated list is filtered afterwards instead. RTX entries
    whose ``apt`` no longer refers to a kept codec are dropped too.
    """
    codecs: list[RTCRtpCodecParameters] = transceiver._codecs
    kept = [c for c in codecs if c.mimeType.lower() != f"{transceiver.kind}/rtx" and keep(c)]
    kept_types = {c.payloadType for c in kept}
    for codec in codecs:
        if (
            codec.mimeType.lower() == f"{transceiver.kind}/rtx"
            and codec.parameters.get("apt") in kept_types
        ):
            kept.append(codec)
    transceiver._codecs = kept


def accept_simulcast(transceiver: RTCRtpTransceiver, extension_ids: dict[str, int]) -> None:
    """Negotiate the header extensions a simulcast section needs, with the offer's ids.

    aiortc answers only the extensions it knows for a kind (video: mid and
    abs-send-time); rid and repaired rid name each layer's packets (Chrome
    sends no ``a=ssrc`` lines for them). ``transceiver._headerExtensions`` is
    both what the answer's extmaps are written from and what the receiver's
    parameters (and the transport's ``HeaderExtensionsMap``, which parses
    rid and rrid) are configured with. Call after ``setRemoteDescription``.
    """
    current: list[RTCRtpHeaderExtensionParameters] = transceiver._headerExtensions
    known = {extension.uri for extension in current}
    for uri, extension_id in extension_ids.items():
        if uri not in known:
            current.append(RTCRtpHeaderExtensionParameters(id=extension_id, uri=uri))
    transceiver._headerExtensions = current


async def close_within(pc: RTCPeerConnection, timeout_s: float) -> bool:
    """Close ``pc``, returning within about ``timeout_s``; True if it had to be forced.

    ``pc.close()`` stops every sender and receiver, each awaiting events its
    background tasks set when they end; a task that died without setting
    them (aiortc's RTCP loops on a bad report, say) makes it wait forever.
    Past the bound, every such event is set and every task cancelled, which
    lets the close finish, and the ICE sockets are closed at once, so nothing
    a dead task holds keeps a port. The close then finishes in the
    background; it is never cancelled half-way. A slow close on a loaded
    machine that is forced loses nothing: it was about to do the same.
    """
    closing = asyncio.ensure_future(pc.close())
    done, _ = await asyncio.wait({closing}, timeout=timeout_s)
    if done:
        closing.result()
        return False
    for transceiver in pc.getTransceivers():
        _release_tasks(transceiver.receiver, "_RTCRtpReceiver", ("rtcp",))
        _release_tasks(transceiver.sender, "_RTCRtpSender", ("rtp", "rtcp"))
        dtls: Any = transceiver.receiver.transport
        if dtls is not None:
            if dtls._task is not None:
                dtls._task.cancel()
            for protocol in dtls.transport._connection._protocols:
                if protocol.transport is not None:
                    protocol.transport.close()
    run_soon(_finish_close(closing))
    return True


async def _finish_close(closing: asyncio.Future[None]) -> None:
    """Wait for a forced close to end (run_soon keeps it referenced meanwhile)."""
    try:
        await closing
    except Exception as error:  # the connection is gone either way
        logger.warning("a forced peer-connection close ended with %s", type(error).__name__)


def _release_tasks(owner: object, prefix: str, names: tuple[str, ...]) -> None:
    """Cancel ``owner``'s background tasks and set the start/exit events its stop() awaits."""
    target: Any = owner
    for name in names:
        task: asyncio.Future[None] | None = getattr(target, f"{prefix}__{name}_task", None)
        if task is not None:
            task.cancel()
        for event in ("started", "exited"):
            flag: asyncio.Event | None = getattr(target, f"{prefix}__{name}_{event}", None)
            if flag is not None:
                flag.set()


def parse_ice_candidate(candidate: str, sdp_mid: str | None, sdp_mline_index: int | None) -> Any:
    """Parse a browser's ``candidate:...`` string into an RTCIceCandidate."""
    try:
        parsed: RTCIceCandidate = candidate_from_sdp(candidate.removeprefix("candidate:"))
    except (AssertionError, IndexError, ValueError) as exc:
        # aiortc validates the field count with a bare assert.
        raise ValueError(f"not an ICE candidate: {candidate!r}") from exc
    parsed.sdpMid = sdp_mid
    parsed.sdpMLineIndex = sdp_mline_index
    return parsed


def selected_candidate_types(pc: RTCPeerConnection) -> tuple[str, str] | None:
    """(local, remote) ICE candidate types of ``pc``'s selected pair, if one is selected.

    aiortc exposes no selected pair; aioice keeps the nominated pair per
    component in ``Connection._nominated``.
    """
    for transceiver in pc.getTransceivers():
        dtls: Any = transceiver.sender.transport or transceiver.receiver.transport
        if dtls is None:
            continue
        pair = dtls.transport._connection._nominated.get(1)
        if pair is not None:
            return (pair.local_candidate.type, pair.remote_candidate.type)
    return None
