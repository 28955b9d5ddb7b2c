"""In the room: the discreet request to check in, the spotlight, screen sharing, side rooms."""

from __future__ import annotations

import pytest

from rooms import (
    FixedClock,
    InvalidCommand,
    NoPendingRequest,
    NotInRoom,
    PermissionDenied,
    Role,
    Room,
    ScreenShareBusy,
    ShareNotAllowed,
)
from rooms.checkins import CheckInRequest
from rooms.events import (
    Audience,
    CheckInChanged,
    FloorChanged,
    LeaveReason,
    ParticipantLeft,
    ScreenShareChanged,
    ScreenSharePermissionChanged,
    SettingsChanged,
    SideRoomsChanged,
    SpotlightChanged,
)
from rooms.rounds import RoundOrder
from tests.rooms.conftest import admitted, identity


@pytest.fixture
def group(room: Room) -> Room:
    """A facilitator, a co-facilitator, two members (a, b) and an observer."""
    admitted(room, "p_co", Role.COFACILITATOR)
    admitted(room, "p_a")
    admitted(room, "p_b")
    admitted(room, "p_obs", Role.OBSERVER)
    return room


class TestCheckIn:
    def test_a_member_asks_and_only_the_facilitators_and_they_hear_of_it(
        self, group: Room, clock: FixedClock
    ) -> None:
        clock.advance(42)
        events = group.request_check_in("p_a")
        assert events == [CheckInChanged("p_a", CheckInRequest("p_a", clock.now()))]
        assert events[0].audience is Audience.FACILITATORS and events[0].also_to == "p_a"

    def test_asking_again_keeps_the_first_time(self, group: Room, clock: FixedClock) -> None:
        group.request_check_in("p_a")
        first = group.check_ins.of("p_a")
        clock.advance(30)
        assert group.request_check_in("p_a") == []
        assert group.check_ins.of("p_a") == first

    def test_the_member_cancels(self, group: Room) -> None:
        group.request_check_in("p_a")
        assert group.cancel_check_in("p_a") == [CheckInChanged("p_a", None)]
        assert "p_a" not in group.check_ins
        assert group.cancel_check_in("p_a") == []  # nothing open: nothing to say

    def test_a_facilitator_acknowledges_and_the_member_is_told(self, group: Room) -> None:
        group.request_check_in("p_a")
        events = group.acknowledge_check_in("p_co", "p_a")
        assert events == [CheckInChanged("p_a", None, acknowledged_by="p_co")]
        with pytest.raises(NoPendingRequest):
            group.acknowledge_check_in("p_fac", "p_a")

    def test_observers_may_ask_and_facilitators_may_not(self, group: Room) -> None:
        assert group.request_check_in("p_obs")
        for facilitator in ("p_fac", "p_co"):
            with pytest.raises(PermissionDenied):
                group.request_check_in(facilitator)

    def test_members_cannot_acknowledge(self, group: Room) -> None:
        group.request_check_in("p_a")
        with pytest.raises(PermissionDenied):
            group.acknowledge_check_in("p_b", "p_a")
        assert "p_a" in group.check_ins

    def test_someone_waiting_cannot_ask(self, room: Room) -> None:
        room.set_auto_admit("p_fac", False)
        room.join(identity("p_w"))
        with pytest.raises(NotInRoom):
            room.request_check_in("p_w")
        assert len(room.check_ins) == 0

    def test_snapshots_show_all_requests_to_facilitators_and_only_your_own_to_you(
        self, group: Room
    ) -> None:
        group.request_check_in("p_a")
        group.request_check_in("p_b")
        assert [r.participant_id for r in group.snapshot_for("p_co").check_ins] == [
            "p_a",
            "p_b",
        ]
        assert [r.participant_id for r in group.snapshot_for("p_a").check_ins] == ["p_a"]
        assert group.snapshot_for("p_obs").check_ins == ()

    def test_the_audit_has_ids_and_actions_only(self, group: Room) -> None:
        group.request_check_in("p_a")
        group.cancel_check_in("p_a")
        group.request_check_in("p_a")
        group.acknowledge_check_in("p_fac", "p_a")
        records = [(r.actor_id, r.target_id, r.action, r.reason) for r in group.audit][-4:]
        assert records == [
            ("p_a", None, "check_in_requested", None),
            ("p_a", None, "check_in_cancelled", None),
            ("p_a", None, "check_in_requested", None),
            ("p_fac", "p_a", "check_in_acknowledged", None),
        ]

    def test_a_request_goes_with_the_person_and_with_the_session(self, group: Room) -> None:
        group.request_check_in("p_a")
        events = group.leave("p_a", LeaveReason.DISCONNECTED)
        assert not any(isinstance(e, CheckInChanged) for e in events)
        assert "p_a" not in group.check_ins
        group.join(identity("p_a"))  # back: a fresh start, nothing asked yet
        assert group.snapshot_for("p_a").check_ins == ()
        group.request_check_in("p_b")
        group.end_session("p_fac")
        assert len(group.check_ins) == 0


class TestSpotlight:
    def test_a_facilitator_spotlights_someone_for_everyone(self, group: Room) -> None:
        events = group.spotlight("p_co", "p_a")
        assert events == [SpotlightChanged("p_a")] and events[0].audience is Audience.ROOM
        assert group.spotlighted() == "p_a"
        assert group.snapshot_for("p_b").spotlight_id == "p_a"
        assert group.spotlight("p_fac", "p_a") == []
        assert group.clear_spotlight("p_fac") == [SpotlightChanged(None)]
        assert group.spotlighted() is None and group.clear_spotlight("p_fac") == []

    def test_facilitators_may_spotlight_themselves(self, group: Room) -> None:
        assert group.spotlight("p_fac", "p_fac") == [SpotlightChanged("p_fac")]

    def test_members_cannot_spotlight(self, group: Room) -> None:
        with pytest.raises(PermissionDenied):
            group.spotlight("p_a", "p_a")
        with pytest.raises(PermissionDenied):
            group.set_spotlight_follows_floor("p_a", True)
        assert group.spotlighted() is None

    def test_only_people_in_the_session_who_speak_are_spotlighted(self, group: Room) -> None:
        group.set_auto_admit("p_fac", False)
        group.join(identity("p_w"))
        with pytest.raises(NotInRoom):
            group.spotlight("p_fac", "p_w")
        with pytest.raises(NotInRoom):
            group.spotlight("p_fac", "p_nobody")
        with pytest.raises(InvalidCommand):
            group.spotlight("p_fac", "p_obs")
        assert group.spotlight_id is None

    def test_the_spotlight_follows_the_floor_when_the_room_says_so(self, group: Room) -> None:
        group.give_floor("p_fac", "p_a")
        assert group.spotlighted() is None
        events = group.set_spotlight_follows_floor("p_fac", True)
        assert isinstance(events[0], SettingsChanged)
        assert events[0].settings.spotlight_follows_floor
        assert group.spotlighted() == "p_a"
        group.take_back_floor("p_fac")
        group.start_round("p_fac", RoundOrder.CHOSEN, chosen=["p_b", "p_a"])
        assert group.spotlighted() == "p_b"
        group.finish_turn("p_b", passed=False)
        assert group.spotlighted() == "p_a"
        # A facilitator's choice wins over the floor.
        group.spotlight("p_fac", "p_co")
        assert group.spotlighted() == "p_co"

    def test_the_spotlight_goes_out_when_its_person_leaves(self, group: Room) -> None:
        group.spotlight("p_fac", "p_b")
        events = group.remove("p_fac", "p_b")
        assert isinstance(events[0], ParticipantLeft)
        assert SpotlightChanged(None) in events
        assert not any(isinstance(e, FloorChanged) for e in events)
        assert group.spotlighted() is None


class TestScreenShare:
    def test_a_facilitator_shares_and_stops(self, group: Room) -> None:
        assert group.start_screen_share("p_co") == [ScreenShareChanged("p_co")]
        assert group.is_sharing_screen("p_co") and not group.is_sharing_screen("p_fac")
        assert group.snapshot_for("p_a").screen_sharer_id == "p_co"
        assert group.start_screen_share("p_co") == []
        assert group.stop_screen_share("p_co") == [ScreenShareChanged(None)]
        assert group.stop_screen_share("p_co") == []

    def test_a_member_shares_only_when_a_facilitator_allows_it(self, group: Room) -> None:
        with pytest.raises(ShareNotAllowed):
            group.start_screen_share("p_a")
        assert group.screen_sharer_id is None
        events = group.allow_screen_share("p_fac", "p_a", True)
        assert events == [ScreenSharePermissionChanged("p_a", True)]
        assert events[0].audience is Audience.FACILITATORS and events[0].also_to == "p_a"
        assert group.snapshot_for("p_a").screen_share_allowed == ("p_a",)
        assert group.snapshot_for("p_b").screen_share_allowed == ()
        assert group.snapshot_for("p_co").screen_share_allowed == ("p_a",)
        assert group.start_screen_share("p_a") == [ScreenShareChanged("p_a")]
        with pytest.raises(ShareNotAllowed):
            group.start_screen_share("p_b")

    def test_one_share_at_a_time(self, group: Room) -> None:
        group.start_screen_share("p_fac")
        with pytest.raises(ScreenShareBusy):
            group.start_screen_share("p_co")
        assert group.screen_sharer_id == "p_fac"

    def test_facilitators_stop_anyone_and_members_cannot(self, group: Room) -> None:
        group.allow_screen_share("p_fac", "p_a", True)
        group.start_screen_share("p_a")
        with pytest.raises(PermissionDenied):
            group.stop_screen_share("p_b", "p_a")
        with pytest.raises(PermissionDenied):
            group.allow_screen_share("p_b", "p_b", True)
        events = group.stop_screen_share("p_co", "p_a")
        assert events == [ScreenShareChanged(None, stopped_by="p_co")]
        with pytest.raises(InvalidCommand):
            group.stop_screen_share("p_co", "p_a")

    def test_taking_the_permission_back_stops_the_share(self, group: Room) -> None:
        group.allow_screen_share("p_fac", "p_a", True)
        group.start_screen_share("p_a")
        events = group.allow_screen_share("p_fac", "p_a", False)
        assert events == [
            ScreenSharePermissionChanged("p_a", False),
            ScreenShareChanged(None, stopped_by="p_fac"),
        ]
        assert not group.is_sharing_screen("p_a")
        with pytest.raises(InvalidCommand):
            group.allow_screen_share("p_fac", "p_obs", True)

    def test_the_share_ends_when_its_sharer_leaves(self, group: Room) -> None:
        group.start_screen_share("p_fac")
        events = group.leave("p_fac")
        assert ScreenShareChanged(None) in events
        assert group.screen_sharer_id is None

    def test_the_audit_has_ids_only(self, group: Room) -> None:
        group.allow_screen_share("p_fac", "p_a", True)
        group.start_screen_share("p_a")
        group.stop_screen_share("p_fac", "p_a")
        records = [(r.actor_id, r.target_id, r.action) for r in group.audit][-3:]
        assert records == [
            ("p_fac", "p_a", "allow_screen_share"),
            ("p_a", None, "start_screen_share"),
            ("p_fac", "p_a", "stop_screen_share"),
        ]


class TestSideRooms:
    def test_a_facilitator_takes_a_member_aside_and_brings_them_back(
        self, group: Room, clock: FixedClock
    ) -> None:
        events = group.open_side_room("p_fac", ["p_fac", "p_a"])
        [change] = events
        assert isinstance(change, SideRoomsChanged) and change.audience is Audience.ROOM
        [side] = change.side_rooms
        assert side.participant_ids == ("p_fac", "p_a") and side.ends_at is None
        assert group.place_of("p_a") == group.place_of("p_fac") == side.side_room_id
        assert group.place_of("p_b") is None
        assert group.snapshot_for("p_b").side_rooms == (side,)
        assert group.bring_everyone_back("p_co") == [SideRoomsChanged(())]
        assert group.place_of("p_a") is None
        assert group.bring_everyone_back("p_co") == []

    def test_a_pair_for_a_set_time(self, group: Room, clock: FixedClock) -> None:
        group.open_side_room("p_co", ["p_a", "p_b"], seconds=300)
        [side] = group.side_rooms.views()
        assert side.ends_at == clock.now() + 300
        clock.advance(299)
        assert not any(isinstance(e, SideRoomsChanged) for e in group.tick())
        clock.advance(1)
        assert SideRoomsChanged(()) in group.tick()
        assert group.place_of("p_a") is None

    def test_facilitators_move_between_rooms(self, group: Room) -> None:
        group.open_side_room("p_fac", ["p_a"])
        [side] = group.side_rooms.views()
        group.move_to_side_room("p_co", "p_co", side.side_room_id)
        assert group.place_of("p_co") == side.side_room_id
        group.move_to_side_room("p_co", "p_co", None)
        assert group.place_of("p_co") is None
        # The last one out closes the side room.
        group.move_to_side_room("p_fac", "p_a", None)
        assert group.side_rooms.views() == ()

    def test_refusals_change_nothing(self, group: Room) -> None:
        with pytest.raises(PermissionDenied):
            group.open_side_room("p_a", ["p_a", "p_b"])
        with pytest.raises(InvalidCommand):
            group.open_side_room("p_fac", [])
        with pytest.raises(InvalidCommand):
            group.open_side_room("p_fac", ["p_a", "p_a"])
        with pytest.raises(InvalidCommand):
            group.open_side_room("p_fac", ["p_obs"])
        with pytest.raises(NotInRoom):
            group.open_side_room("p_fac", ["p_nobody"])
        with pytest.raises(PermissionDenied):
            group.open_side_room("p_co", ["p_fac"])
        group.open_side_room("p_fac", ["p_a"])
        with pytest.raises(InvalidCommand):
            group.open_side_room("p_fac", ["p_b", "p_a"])
        with pytest.raises(InvalidCommand):
            group.move_to_side_room("p_fac", "p_b", "side-99")
        with pytest.raises(InvalidCommand):
            group.close_side_room("p_fac", "side-99")
        assert [v.participant_ids for v in group.side_rooms.views()] == [("p_a",)]
        assert group.place_of("p_b") is None

    def test_leaving_takes_you_out_and_the_session_end_closes_them(self, group: Room) -> None:
        group.open_side_room("p_fac", ["p_a", "p_b"])
        events = group.remove("p_fac", "p_a")
        [change] = [e for e in events if isinstance(e, SideRoomsChanged)]
        assert [v.participant_ids for v in change.side_rooms] == [("p_b",)]
        group.end_session("p_fac")
        assert group.side_rooms.views() == ()

    def test_the_audit_has_ids_only(self, group: Room) -> None:
        group.open_side_room("p_fac", ["p_fac", "p_a"])
        group.bring_everyone_back("p_fac")
        records = [(r.actor_id, r.target_id, r.action) for r in group.audit][-3:]
        assert records == [
            ("p_fac", "p_fac", "move_to_side-1"),
            ("p_fac", "p_a", "move_to_side-1"),
            ("p_fac", None, "close_side_rooms"),
        ]
