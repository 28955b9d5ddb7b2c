"""Stand-ins the media plane's unit tests inject: a clock they move by hand, and a slot
output that records copies (or refuses them, as a failed SRTP session does)."""

from __future__ import annotations

from dataclasses import dataclass

from server.sfu.copy_sender import CopySender, PacketCopies, SrtpError


@dataclass
class ManualClock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


# What the recording line writes before the payload: a fixed header and an empty
# one-byte extension block (no extensions negotiated).
_WRITTEN_HEADER = 12 + 4


class RecordingOutput:
    """A slot's output that records each copy's (sequence number, timestamp, report RTP).

    Each copy is also written by a real C ``CopySender`` line (not sent), so the VP8
    picture id a subscriber would see is the one the line writes: ``picture_ids``
    holds it per copy (None for a copy without one).
    """

    # A fixed header, and a one-byte extension block with mid, abs-send-time and level.
    header_size = 28

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.sent: list[tuple[int, int, int]] = []
        self.picture_ids: list[int | None] = []
        self.continued = 0
        self.skipped = 0
        self.line = CopySender(
            ssrc=1, payload_type=96, mid_element=b"", abs_send_time_id=0, audio_level_id=0
        )

    def send_copy(
        self,
        copies: PacketCopies,
        sequence_number: int,
        timestamp: int,
        ntp: int,
        rtp: int,
        picture_id_adjust: int = 0,
    ) -> int:
        if self.fail:
            raise SrtpError(9)  # srtp_err_status_replay_fail, say
        data = self.line.write(copies, sequence_number, timestamp, picture_id_adjust)
        written = PacketCopies(
            marker=False,
            payload=data[_WRITTEN_HEADER:],
            padding_size=0,
            abs_send_time=0,
            audio_level=None,
            vp8=copies.picture_id >= 0,
        )
        self.picture_ids.append(written.picture_id if written.picture_id >= 0 else None)
        self.sent.append((sequence_number, timestamp, rtp))
        return len(copies.payload)

    def continue_vp8(self, copies: PacketCopies) -> None:
        self.continued += 1
        self.line.continue_vp8(copies)

    def skip_picture(self) -> None:
        self.skipped += 1
        self.line.skip_picture()
