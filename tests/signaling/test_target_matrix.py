"""Every command aimed at someone x every actor x every kind of target, over real
sockets, against docs/protocol.md: its "who" column (parsed by test_protocol_doc), and
its written rules — someone waiting runs nothing; moderation of a facilitating target needs a
higher rank ("Equal rank"); someone waiting can only be admitted or denied; your own
controls are for yourself. An allowed command must succeed and its effect reach
someone else; a refused one must change nothing. (The events not aimed at anyone,
media ones included, are in test_role_matrix.py.)"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from rooms import Role
from tests.conftest import Client, ClientFactory, RunningServer, joined
from tests.signaling.test_protocol_doc import documented_senders, documented_uses

_RANK = {Role.FACILITATOR: 3, Role.COFACILITATOR: 2, Role.MEMBER: 1, Role.OBSERVER: 0}


@dataclass(frozen=True)
class Aimed:
    """A command aimed at one participant, and how its effect shows to someone else."""

    event: str
    payload: Callable[[str], dict[str, Any]]
    effect: str  # a server event a witness (or, for private effects, the target) receives
    seen_by_target: bool = False
    moderation: bool = True  # under the equal-rank rule (docs: "Equal rank")
    on_waiting: bool = False  # admit and deny act on people waiting, and only on them
    # Facilitators are never held, so lifting a hold on one is allowed and changes nothing.
    no_op_on_facilitators: bool = False


AIMED = [
    Aimed("mute", lambda pid: {"participant_id": pid}, "media_changed"),
    Aimed(
        "ask_to_unmute",
        lambda pid: {"participant_id": pid, "device": "camera"},
        "unmute_requested",
        seen_by_target=True,
    ),
    Aimed(
        "allow_unmute",
        lambda pid: {"participant_id": pid, "device": "camera"},
        "media_changed",
        no_op_on_facilitators=True,
    ),
    Aimed("lower_hand", lambda pid: {"participant_id": pid}, "hand_queue_changed"),
    Aimed("remove", lambda pid: {"participant_id": pid}, "participant_left"),
    Aimed(
        "give_floor",
        lambda pid: {"participant_id": pid},
        "floor_changed",
        moderation=False,
    ),
    Aimed(
        "admit",
        lambda pid: {"participant_id": pid},
        "participant_admitted",
        moderation=False,
        on_waiting=True,
    ),
    Aimed(
        "deny",
        lambda pid: {"participant_id": pid},
        "participant_left",
        seen_by_target=True,
        moderation=False,
        on_waiting=True,
    ),
]

ACTORS = ["facilitator", "cofacilitator", "member", "observer", "waiting"]
TARGETS = ["facilitator", "cofacilitator", "member", "self", "waiting"]


def expected(command: Aimed, actor: str, target: str) -> bool:
    """Allowed, by the documentation."""
    if actor == "waiting":
        return False  # someone waiting may only leave and accept the ground rules
    actor_role = Role(actor)
    on_else = target != "self" and "someone else's" in documented_uses(command.event)
    use = "someone else's" if on_else else None
    if actor_role not in documented_senders(command.event, use):
        return False
    if command.on_waiting:
        return target == "waiting"
    if target == "waiting":
        return False  # only admitted or denied
    if target == "self":
        # Your own controls are for yourself; lowering your own hand is one of them.
        return command.event in ("lower_hand", "give_floor")
    target_role = Role(target)
    if command.moderation and target_role.facilitates:
        return _RANK[actor_role] > _RANK[target_role]
    return True


@dataclass
class Cast:
    actors: dict[str, Client]
    targets: dict[str, Client]  # "self" is filled per actor
    witness: Client
    spare_witness: Client


async def cast(connect: ClientFactory, server: RunningServer) -> Cast:
    async def join(role: Role, name: str, **media: bool) -> Client:
        client, _ = await joined(connect, server, "r1", role, name, **media)
        return client

    fac = await join(Role.FACILITATOR, "Fac", microphone=True)
    assert (await fac.call("update_settings", {"auto_admit": True}))["ok"]
    people = {
        "facilitator": fac,
        "cofacilitator": await join(Role.COFACILITATOR, "Co", microphone=True),
        "member": await join(Role.MEMBER, "Mem", microphone=True),
        "observer": await join(Role.OBSERVER, "Obs"),
        "t_facilitator": await join(Role.FACILITATOR, "Fac Two", microphone=True),
        "t_cofacilitator": await join(Role.COFACILITATOR, "Co Two", microphone=True),
        "t_member": await join(Role.MEMBER, "Mem Two", microphone=True),
        "witness": await join(Role.MEMBER, "Witness"),
        "spare": await join(Role.OBSERVER, "Spare Witness"),
    }
    for key in ("facilitator", "cofacilitator", "member", "t_facilitator", "t_cofacilitator"):
        assert (await people[key].call("raise_hand"))["ok"]
    assert (await people["t_member"].call("raise_hand"))["ok"]
    # A hold on each member's camera, for allow_unmute to lift.
    for key in ("member", "t_member"):
        reply = await fac.call(
            "mute", {"participant_id": people[key].participant_id, "device": "camera"}
        )
        assert reply["ok"], reply
    assert (await fac.call("update_settings", {"auto_admit": False}))["ok"]
    people["waiting"] = await join(Role.MEMBER, "Waits")
    people["t_waiting"] = await join(Role.MEMBER, "Waits Too")
    actors = {name: people[name] for name in ACTORS}
    targets = {name: people[f"t_{name}"] for name in TARGETS if name != "self"}
    return Cast(actors, targets, people["witness"], people["spare"])


def state_of(server: RunningServer) -> Any:
    room = server.room("r1")
    views = sorted(
        (room.view(p) for p in (*room.admitted(), *room.waiting())), key=lambda v: v.participant_id
    )
    return (room.settings, views, tuple(room.hands), room.floor.view(), len(room.audit))


def facilitating(server: RunningServer) -> set[str]:
    return {p.id for p in server.room("r1").admitted() if p.role.facilitates}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("command", AIMED, ids=[c.event for c in AIMED])
async def test_aimed_command(
    server: RunningServer, connect: ClientFactory, command: Aimed, actor: str, target: str
) -> None:
    people = await cast(connect, server)
    sender = people.actors[actor]
    aimed_at = sender if target == "self" else people.targets[target]
    witness = people.spare_witness if sender is people.witness else people.witness
    for client in (*people.actors.values(), *people.targets.values(), witness):
        client.events.clear()
    before = state_of(server)

    reply = await sender.call(command.event, command.payload(aimed_at.participant_id or ""))

    if not expected(command, actor, target):
        assert reply["ok"] is False, (command.event, actor, target, reply)
        assert state_of(server) == before, (command.event, actor, target)
        return
    assert reply["ok"] is True, (command.event, actor, target, reply)
    if command.no_op_on_facilitators and aimed_at.participant_id in facilitating(server):
        assert state_of(server) == before
        return
    assert state_of(server) != before, "an allowed command changed nothing"
    if command.effect:
        seer = aimed_at if command.seen_by_target else witness
        await seer.wait_for(command.effect, timeout=5)
