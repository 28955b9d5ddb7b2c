from __future__ import annotations

import pytest

from rooms import FixedClock, Identity, Role, Room


def identity(pid: str, role: Role = Role.MEMBER, name: str | None = None) -> Identity:
    return Identity(pid, name or pid.title(), role)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def room(clock: FixedClock) -> Room:
    """A room with a facilitator present and nobody else."""
    r = Room("r1", clock)
    r.join(identity("p_fac", Role.FACILITATOR))
    return r


def admitted(room: Room, pid: str, role: Role = Role.MEMBER, **media: bool) -> None:
    room.join(identity(pid, role), **media)
    if room.participant(pid).state.label == "waiting":
        room.admit("p_fac", pid)
