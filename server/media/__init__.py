"""The media plane: peer connections and RTP-level forwarding (no transcoding).

The only module here that touches aiortc below its public API is
``server.media.aiortc_internals``.
"""

from server.media.plane import RtpForwardingMediaPlane
from server.media.speaking import SpeakingThresholds
from server.media.stats import ForwardingStats

__all__ = ["ForwardingStats", "RtpForwardingMediaPlane", "SpeakingThresholds"]
