"""Where rooms live. The default keeps them in this process's memory (server/)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from rooms.room import Room


class RoomStore(Protocol):
    def get(self, room_id: str) -> Room | None: ...

    def add(self, room: Room) -> None: ...

    def discard(self, room_id: str) -> None: ...

    def __iter__(self) -> Iterator[Room]: ...

    def __len__(self) -> int: ...
