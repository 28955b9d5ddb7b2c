"""A room's durable record: everything it must not forget survives to_record/from_record."""

from __future__ import annotations

import json

import pytest

from rooms import (
    RECORD_VERSION,
    Barred,
    Device,
    FixedClock,
    RecordError,
    Role,
    Room,
    UnmuteNotAllowed,
)
from rooms.events import RoomSettings
from rooms.rounds import RoundOrder
from rooms.schedule import Schedule
from tests.rooms.conftest import admitted, identity

MIC = Device.MICROPHONE


def busy_room(clock: FixedClock) -> Room:
    """A session in full swing: consent, a removal, holds, hands, a round, the clock."""
    room = Room(
        "r_busy",
        clock,
        title="Tuesday group",
        ground_rules="What is said here stays here.",
        settings=RoomSettings(capacity=12, chat_enabled=False),
        schedule=Schedule(starts_at=clock.now(), ends_at=clock.now() + 5400, hard_end=True),
    )
    room.join(identity("p_fac", Role.FACILITATOR))
    for pid in ("p_ann", "p_bo", "p_cy", "p_dee"):
        room.join(identity(pid), microphone=True)
        room.accept_ground_rules(pid)
        room.admit("p_fac", pid)
    room.join(identity("p_wait"))  # waits, has not accepted the ground rules
    room.remove("p_fac", "p_dee")
    room.mute("p_fac", "p_ann", MIC)
    room.mute("p_fac", "p_cy", MIC)
    room.leave("p_cy")  # leaves with a hold on
    room.raise_hand("p_bo")
    room.raise_hand("p_ann")
    room.ask_to_unmute("p_fac", "p_ann", Device.CAMERA)
    room.lock("p_fac", True)
    clock.advance(30)
    room.start_round("p_fac", RoundOrder.JOIN, turn_seconds=120)
    room.finish_turn("p_ann", passed=True)
    room.set_floor_mode("p_fac", True)
    return room


def test_a_record_survives_json_and_restores_the_same_room() -> None:
    clock = FixedClock()
    room = busy_room(clock)
    record = room.to_record()
    assert record["version"] == RECORD_VERSION
    restored = Room.from_record(json.loads(json.dumps(record)), clock)
    assert restored.to_record() == record
    assert restored.snapshot_for("p_fac") == room.snapshot_for("p_fac")
    assert restored.snapshot_for("p_wait") == room.snapshot_for("p_wait")
    assert tuple(restored.audit) == tuple(room.audit)


def test_the_restored_room_keeps_its_rules() -> None:
    clock = FixedClock()
    restored = Room.from_record(busy_room(clock).to_record(), clock)
    # The removed member stays barred.
    with pytest.raises(Barred):
        restored.join(identity("p_dee"))
    # A held mute holds, for someone present and for someone who left with it.
    with pytest.raises(UnmuteNotAllowed):
        restored.set_own_media("p_ann", MIC, True)
    restored.join(identity("p_cy"))
    assert restored.participant("p_cy").microphone.held
    # The round goes on where it was: Ann passed, Bo speaks, Cy left and came back late.
    assert restored.round is not None
    assert restored.round.current_id == "p_bo"
    assert restored.floor.holder_id == "p_bo"
    assert restored.floor.mode
    assert tuple(restored.hands) == ("p_bo", "p_ann")
    assert restored.settings.locked and not restored.settings.chat_enabled
    assert restored.participant("p_ann").unmute_requests == {Device.CAMERA}
    # Consent: who has not accepted the ground rules still has to.
    assert not restored.participant("p_wait").accepted_ground_rules
    # The clock keeps running: the turn times out at the time it was set to.
    clock.advance(120)
    restored.tick()
    assert restored.round.current_id != "p_bo"


def test_talk_time_is_live_only_and_not_recorded() -> None:
    clock = FixedClock()
    room = busy_room(clock)
    room.speaking_changed("p_fac", True)
    clock.advance(5)
    room.speaking_changed("p_fac", False)
    assert "talk" not in json.dumps(room.to_record())
    restored = Room.from_record(room.to_record(), clock)
    assert all(share.share == 0 for share in restored.talk_balance().shares)


def test_an_ended_room_stays_ended() -> None:
    clock = FixedClock()
    room = busy_room(clock)
    room.end_session("p_fac")
    restored = Room.from_record(room.to_record(), clock)
    assert restored.ended


@pytest.mark.parametrize(
    "damage",
    [
        lambda r: r.update(version=RECORD_VERSION + 1),
        lambda r: r.pop("barred"),
        lambda r: r["participants"][0].update(role="overlord"),
        lambda r: r.update(round={"order": ["p_bo"], "position": 7}),
    ],
)
def test_a_record_it_cannot_read_is_refused_by_name(damage: object) -> None:
    clock = FixedClock()
    record = busy_room(clock).to_record()
    damage(record)  # type: ignore[operator]
    with pytest.raises(RecordError):
        Room.from_record(record, clock)


def test_a_returning_member_of_a_restored_room_skips_the_waiting_room() -> None:
    clock = FixedClock()
    room = Room("r1", clock)
    room.join(identity("p_fac", Role.FACILITATOR))
    admitted(room, "p_m")
    room.leave("p_m")
    restored = Room.from_record(room.to_record(), clock)
    restored.join(identity("p_m"))
    assert restored.participant("p_m").state.label == "admitted"


def test_the_in_room_state_survives_the_record_too() -> None:
    # Check-ins, the spotlight, screen sharing and side rooms are room state like any
    # other: a restart must not drop a member's request to be checked in with.
    clock = FixedClock()
    settings = RoomSettings(spotlight_follows_floor=True, takeover_allowed=False)
    room = Room("r_in_room", clock, settings=settings)
    room.join(identity("p_fac", Role.FACILITATOR))
    for pid in ("p_ann", "p_bo", "p_cy"):
        room.join(identity(pid))
        room.admit("p_fac", pid)
    room.request_check_in("p_ann")
    clock.advance(5)
    room.request_check_in("p_bo")
    room.spotlight("p_fac", "p_cy")
    room.allow_screen_share("p_fac", "p_bo", True)
    room.start_screen_share("p_bo")
    room.open_side_room("p_fac", ["p_fac", "p_ann"], seconds=300)
    room.connection_lost("p_cy")
    record = room.to_record()
    restored = Room.from_record(json.loads(json.dumps(record)), clock)
    assert restored.to_record() == record
    assert [r.participant_id for r in restored.check_ins] == ["p_ann", "p_bo"]
    assert (restored.spotlight_id, restored.screen_sharer_id) == ("p_cy", "p_bo")
    assert restored.side_rooms.views() == room.side_rooms.views()
    assert restored.settings.spotlight_follows_floor
    assert restored.snapshot_for("p_fac") == room.snapshot_for("p_fac")
    # A side room opened after the restore does not reuse a live side room's id.
    restored.close_side_room("p_fac", restored.side_rooms.ids()[0])
    restored.open_side_room("p_fac", ["p_cy"])
    assert restored.side_rooms.ids() == ["side-2"]


def test_a_record_from_before_the_in_room_state_still_restores() -> None:
    clock = FixedClock()
    record = busy_room(clock).to_record()
    for key in ("check_ins", "spotlight_id", "screen_sharer_id", "may_share_screen", "side_rooms"):
        del record[key]
    del record["settings"]["spotlight_follows_floor"]
    del record["settings"]["takeover_allowed"]
    for participant in record["participants"]:
        del participant["reconnecting_since"]
    restored = Room.from_record(record, clock)
    assert restored.spotlight_id is None and not restored.side_rooms.ids()


def test_someone_reconnecting_is_still_reconnecting_after_a_restore() -> None:
    clock = FixedClock()
    room = busy_room(clock)
    room.connection_lost("p_bo")
    restored = Room.from_record(json.loads(json.dumps(room.to_record())), clock)
    assert restored.participant("p_bo").reconnecting
    assert restored.participant("p_bo").reconnecting_since == clock.now()
