"""Stand-ins the media plane's unit tests inject: a clock they move by hand, and a slot
output that records copies (or refuses them, as a failed SRTP session does)."""

from __future__ import annotations

from dataclasses import dataclass

from server.sfu.copy_sender import PacketCopies, SrtpError


@dataclass
class ManualClock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


class RecordingOutput:
    """A slot's output that records each copy's (sequence number, timestamp, report RTP)."""

    # A fixed header, and a one-byte extension block with mid, abs-send-time and level.
    header_size = 28

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.sent: list[tuple[int, int, int]] = []
        self.continued = 0
        self.skipped = 0

    def send_copy(
        self, copies: PacketCopies, sequence_number: int, timestamp: int, ntp: int, rtp: int
    ) -> int:
        if self.fail:
            raise SrtpError(9)  # srtp_err_status_replay_fail, say
        self.sent.append((sequence_number, timestamp, rtp))
        return len(copies.payload)

    def continue_vp8(self, copies: PacketCopies) -> None:
        self.continued += 1

    def skip_picture(self) -> None:
        self.skipped += 1
