"""Which node a room lives on, when several server processes share one Redis.

A room's media and live state are in one process (a node). A join that reaches
another node is redirected to the room's node: the client reconnects there and
joins again (``wrong_node`` with ``node_url``; docs/protocol.md). Redirect rather
than relay: media must reach the node anyway (a browser's WebRTC connection goes
to the process that forwards it), so relaying only the signaling would add a hop
to every command and a second failure point, while a redirect costs one extra
round trip once per join.
"""

from __future__ import annotations

from typing import Protocol


class RoomPlacement(Protocol):
    async def node_for(self, room_id: str) -> str | None:
        """None when the room is (now) this node's: placed here if it was placed on no
        live node, atomically, so simultaneous first joins through different nodes
        place it once. Otherwise the address clients use to reach the room's node.
        Raises rooms.StoreUnavailable when the registry cannot be asked."""
        ...
