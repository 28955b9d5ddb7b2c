"""The durable record of a room: a versioned, JSON-able snapshot of everything a room
must not forget while it lives (``Room.to_record`` / ``Room.from_record``).

What is in it: settings, ground rules, schedule, the roster with states (who is
present, who was ever admitted, who is barred), mute holds (of people present and
of people who left), pending requests to unmute, the hand queue, the floor, a
running round, consent to the ground rules, the audit trail so far, and the
in-room state of issue 18: open check-in requests, the spotlight, who shares a
screen and who may, and who is in which side room.

What is not, by design: talk time. It is a live-only measure (rooms.talktime says
why: not a score, and it lives only as long as the session's media), so a room
restored from its record starts with an empty balance. Chat is never kept either:
messages live only in the browsers of the session (only the message counter is
kept, so message ids stay unique).

This module holds the encoding of the room's parts; ``Room`` assembles them.
"""

from __future__ import annotations

from typing import Any

from rooms.audit import AuditRecord, AuditTrail
from rooms.checkins import CheckIns
from rooms.events import RoomSettings
from rooms.floor import Floor
from rooms.handqueue import HandQueue
from rooms.participant import Device, DeviceState, Identity, Participant, ParticipantState
from rooms.roles import Role
from rooms.rounds import GoAround, TurnOutcome
from rooms.schedule import Schedule

# Bump when the record's shape changes; ``Room.from_record`` refuses versions it
# does not know instead of guessing (an old node must not half-read a newer room).
RECORD_VERSION = 1

RoomRecord = dict[str, Any]


class RecordError(ValueError):
    """A record this code cannot read: another version, or damaged."""


def check_version(record: RoomRecord) -> None:
    version = record.get("version")
    if version != RECORD_VERSION:
        raise RecordError(f"room record version {version!r}; this server reads {RECORD_VERSION}")


def encode_settings(settings: RoomSettings) -> dict[str, Any]:
    return {
        "locked": settings.locked,
        "auto_admit": settings.auto_admit,
        "self_unmute_allowed": settings.self_unmute_allowed,
        "chat_enabled": settings.chat_enabled,
        "capacity": settings.capacity,
        "spotlight_follows_floor": settings.spotlight_follows_floor,
        "takeover_allowed": settings.takeover_allowed,
    }


def decode_settings(data: dict[str, Any]) -> RoomSettings:
    return RoomSettings(
        locked=bool(data["locked"]),
        auto_admit=bool(data["auto_admit"]),
        self_unmute_allowed=bool(data["self_unmute_allowed"]),
        chat_enabled=bool(data["chat_enabled"]),
        capacity=int(data["capacity"]),
        # Absent from records written before the setting existed.
        spotlight_follows_floor=bool(data.get("spotlight_follows_floor", False)),
        takeover_allowed=bool(data.get("takeover_allowed", True)),
    )


def encode_schedule(schedule: Schedule) -> dict[str, Any]:
    return {
        "starts_at": schedule.starts_at,
        "ends_at": schedule.ends_at,
        "hard_end": schedule.hard_end,
        "late_cutoff_at": schedule.late_cutoff_at,
    }


def decode_schedule(data: dict[str, Any]) -> Schedule:
    return Schedule(
        starts_at=data["starts_at"],
        ends_at=data["ends_at"],
        hard_end=bool(data["hard_end"]),
        late_cutoff_at=data["late_cutoff_at"],
    )


def _encode_device(state: DeviceState) -> dict[str, bool]:
    return {"on": state.on, "held": state.held}


def _decode_device(data: dict[str, Any]) -> DeviceState:
    return DeviceState(on=bool(data["on"]), held=bool(data["held"]))


def encode_participant(participant: Participant) -> dict[str, Any]:
    return {
        "participant_id": participant.id,
        "display_name": participant.name,
        "role": participant.role.value,
        "state": participant.state.label,
        "joined_at": participant.joined_at,
        "join_order": participant.join_order,
        "microphone": _encode_device(participant.microphone),
        "camera": _encode_device(participant.camera),
        "unmute_requests": sorted(device.value for device in participant.unmute_requests),
        "accepted_ground_rules": participant.accepted_ground_rules,
        "reconnecting_since": participant.reconnecting_since,
    }


def decode_participant(data: dict[str, Any]) -> Participant:
    return Participant(
        identity=Identity(data["participant_id"], data["display_name"], Role(data["role"])),
        state=ParticipantState[str(data["state"]).upper()],
        joined_at=float(data["joined_at"]),
        join_order=int(data["join_order"]),
        microphone=_decode_device(data["microphone"]),
        camera=_decode_device(data["camera"]),
        unmute_requests={Device(d) for d in data["unmute_requests"]},
        accepted_ground_rules=bool(data["accepted_ground_rules"]),
        # Absent from records written before the grace period existed.
        reconnecting_since=(
            None if data.get("reconnecting_since") is None else float(data["reconnecting_since"])
        ),
    )


def encode_holds(holds: dict[str, frozenset[Device]]) -> dict[str, list[str]]:
    return {pid: sorted(device.value for device in devices) for pid, devices in holds.items()}


def decode_holds(data: dict[str, Any]) -> dict[str, frozenset[Device]]:
    return {pid: frozenset(Device(d) for d in devices) for pid, devices in data.items()}


def encode_hands(hands: HandQueue) -> list[str]:
    return list(hands)


def decode_hands(data: list[str]) -> HandQueue:
    hands = HandQueue()
    for participant_id in data:
        hands.raise_hand(participant_id)
    return hands


def encode_floor(floor: Floor) -> dict[str, Any]:
    return {"mode": floor.mode, "holder_id": floor.holder_id, "ends_at": floor.ends_at}


def decode_floor(data: dict[str, Any]) -> Floor:
    floor = Floor()
    floor.mode = bool(data["mode"])
    if data["holder_id"] is not None:
        floor.give(str(data["holder_id"]), data["ends_at"])
    return floor


def encode_round(round_: GoAround | None) -> dict[str, Any] | None:
    if round_ is None:
        return None
    return round_.to_record()


def decode_round(data: dict[str, Any] | None) -> GoAround | None:
    if data is None:
        return None
    return GoAround.from_record(
        order=[str(pid) for pid in data["order"]],
        position=int(data["position"]),
        turn_seconds=data["turn_seconds"],
        turn_ends_at=data["turn_ends_at"],
        warned=bool(data["warned"]),
        outcomes=[(str(pid), TurnOutcome(outcome)) for pid, outcome in data["outcomes"]],
    )


def encode_audit(trail: AuditTrail) -> list[dict[str, Any]]:
    return [
        {
            "at": record.at,
            "actor_id": record.actor_id,
            "target_id": record.target_id,
            "action": record.action,
            "reason": record.reason,
        }
        for record in trail
    ]


def decode_audit(data: list[dict[str, Any]]) -> AuditTrail:
    trail = AuditTrail()
    for entry in data:
        record = AuditRecord(
            float(entry["at"]),
            entry["actor_id"],
            entry["target_id"],
            str(entry["action"]),
            entry["reason"],
        )
        trail.record(record.at, record.actor_id, record.target_id, record.action, record.reason)
    return trail


def encode_check_ins(check_ins: CheckIns) -> list[dict[str, Any]]:
    return [
        {"participant_id": r.participant_id, "requested_at": r.requested_at} for r in check_ins
    ]


def decode_check_ins(data: list[dict[str, Any]]) -> CheckIns:
    check_ins = CheckIns()
    for entry in data:  # oldest first, as they were kept
        check_ins.request(str(entry["participant_id"]), float(entry["requested_at"]))
    return check_ins
