"""Closing the server's peer connections within a bound, whatever aiortc's tasks did."""

from __future__ import annotations

import logging

from aiortc import RTCPeerConnection

from server.sfu import aiortc_internals as internals
from server.sfu.forwarding_stats import ForwardingStats

logger = logging.getLogger(__name__)

# How long a peer connection's close may take before what it waits on is
# released by force (the close then finishes in the background). An ordinary
# close takes milliseconds, a few hundred on a loaded machine; the bound keeps
# remove_participant and close_room under a second.
CLOSE_BOUND_S = 0.5


async def close_connection(
    pc: RTCPeerConnection, *, log_name: str, leg: str, stats: ForwardingStats
) -> None:
    """Close one of a participant's connections (``leg``: publish or subscribe), bounded.

    A close that outlasts ``CLOSE_BOUND_S`` (an aiortc background task died
    without signalling its end) is finished by force, counted and logged once
    with the participant's pseudonym (``log_name``).
    """
    if await internals.close_within(pc, CLOSE_BOUND_S):
        stats.closes_forced += 1
        logger.warning(
            "the %s connection of participant %s did not close within %.1f s; released by force",
            leg,
            log_name,
            CLOSE_BOUND_S,
        )
