"""The selective forwarding unit: peer connections and RTP-level forwarding, never transcoding.

Where a packet goes, in order:

- ``plane`` (``RtpForwardingMediaPlane``) is the router: each participant's
  publish and subscribe connections, and which published track is forwarded
  into which subscriber slot. Signaling talks to it through
  ``signaling.media.MediaPlane``.
- ``published_track`` (``PublishedTrack``) receives one publisher's track:
  RTP straight off the socket, RTX unwrapped, speaking detected, keyframes
  requested (``keyframes``); then it hands each packet to its legs.
- ``legs`` (``SubscriberSlot``, ``ForwardingLeg``): one leg per (track, subscriber);
  the leg rewrites the packet for its slot (SSRC, sequence, timestamp,
  extensions) and sends the copy.
- ``copy_sender`` and ``_copy_sender.c`` write, keep (for NACKs), protect and
  send each copy in one C call.
- ``subscription`` owns a subscriber's connection and its offers.
- ``connection_quality`` and ``forwarding_stats`` are what the plane measures
  (monitoring rates them; it is never imported from here).

Only ``aiortc_internals`` touches aiortc below its public API; its docstring
lists every private name relied on. This package imports ``signaling``,
``rooms`` and itself, nothing else of ``server``.
"""

from server.sfu.aiortc_internals import IcePolicy
from server.sfu.connection_quality import ConnectionQuality
from server.sfu.forwarding_stats import ForwardingStats, ForwardingTotals
from server.sfu.plane import RtpForwardingMediaPlane
from server.sfu.speaking import SpeakingThresholds

__all__ = [
    "ConnectionQuality",
    "ForwardingStats",
    "ForwardingTotals",
    "IcePolicy",
    "RtpForwardingMediaPlane",
    "SpeakingThresholds",
]
