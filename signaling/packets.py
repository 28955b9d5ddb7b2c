"""How Socket.IO frames from clients are decoded: bounded, and never able to name a
server handler.

python-socketio looks a client event up by its name among the server's handlers,
so a client emitting ``connect`` or ``disconnect`` would run the server's own
connection handlers. ``ClientPacket`` (passed as the server's ``serializer``, a
documented extension point) therefore wraps every client event in one envelope:
the library sees only ``CLIENT_MESSAGE``, and the client's own name becomes the
first argument, which signaling looks up in the protocol's table and nowhere else.

The JSON it decodes is bounded (``BoundedJson``): nesting deeper than
``MAX_NESTING`` and the non-JSON constants ``NaN`` and ``Infinity`` are refused. A
frame that cannot be decoded becomes a ``MalformedFrame`` in the envelope instead
of an exception with a traceback in the library's log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from socketio import packet

# The one handler name the library dispatches client events to. A client cannot
# reach it by name: whatever it sends is wrapped, this name included.
CLIENT_MESSAGE = "client_message"

# The largest frame a client may send, in bytes (engine.io's max_http_buffer_size).
# Large enough for the largest SDP a payload allows (schemas.MAX_SDP_LENGTH, 200,000
# characters) with its line breaks escaped; a larger frame closes the connection.
MAX_FRAME_BYTES = 256 * 1024

# The deepest JSON a frame may hold: the protocol's payloads need four levels
# (the event's argument list, the payload, a list in it, its items).
MAX_NESTING = 16


# What a client may send. Binary packets are not: the protocol is JSON, and the
# library waits for their attachments, so a binary packet announcing none wedges
# that connection.
_FROM_CLIENTS = frozenset({packet.CONNECT, packet.DISCONNECT, packet.EVENT, packet.ACK})


@dataclass(frozen=True, slots=True)
class MalformedFrame:
    """Stands in for a client event whose frame could not be decoded. Not a JSON
    value, so no client can send one."""

    reason: str


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_nesting(value: Any) -> None:
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_NESTING:
            raise ValueError(f"JSON nested deeper than {MAX_NESTING} levels")
        pending.extend((child, depth + 1) for child in children)


class BoundedJson:
    """The ``json`` module as Socket.IO and engine.io use it, refusing what the
    protocol never sends: deep nesting, NaN and Infinity (in and out)."""

    @staticmethod
    def loads(text: str | bytes, **kwargs: Any) -> Any:
        try:
            value = json.loads(text, parse_constant=_refuse_constant, **kwargs)
        except RecursionError as error:
            raise ValueError(f"JSON nested deeper than {MAX_NESTING} levels") from error
        _check_nesting(value)
        return value

    @staticmethod
    def dumps(value: Any, **kwargs: Any) -> str:
        return json.dumps(value, allow_nan=False, **kwargs)


class ClientPacket(packet.Packet):  # type: ignore[misc]
    json = BoundedJson
    # Set by the library's decode; declared for the type checker.
    packet_type: int
    id: int | None
    data: Any

    def decode(self, encoded_packet: str | bytes) -> int:
        try:
            attachments: int = super().decode(encoded_packet)
        except Exception as error:  # untrusted input: any failure is the frame's
            # Keep the ack id when the header had one, so the client is answered.
            ack_id = self.id if self.packet_type == packet.EVENT else None
            return self._malformed(f"{type(error).__name__}: {error}", ack_id)
        if self.packet_type == packet.BINARY_EVENT:
            return self._malformed("binary frames are not part of the protocol", self.id)
        if self.packet_type not in _FROM_CLIENTS:
            # The library raises, with a traceback in its log, on a packet type only a
            # server sends (CONNECT_ERROR) or none does.
            return self._malformed(f"packet type {self.packet_type!r} is not sent by clients")
        if self.packet_type == packet.EVENT:
            self.data = [CLIENT_MESSAGE, *(self.data if isinstance(self.data, list) else [None])]
        return attachments

    def _malformed(self, reason: str, ack_id: int | None = None) -> int:
        """Turn this packet into an event carrying only why it was refused."""
        self.packet_type, self.id = packet.EVENT, ack_id
        self.data = [CLIENT_MESSAGE, MalformedFrame(reason[:80])]
        return 0
