from __future__ import annotations

import pytest

from rooms import (
    PERMISSIONS,
    Barred,
    ChatDisabled,
    Command,
    ConsentRequired,
    Device,
    DeviceState,
    FixedClock,
    InvalidCommand,
    NoPendingRequest,
    NotAdmitted,
    NotInRoom,
    NotWaiting,
    ParticipantState,
    PermissionDenied,
    Role,
    Room,
    RoomEnded,
    RoomError,
    RoomFull,
    RoomLocked,
    UnmuteNotAllowed,
)
from rooms.events import (
    HandQueueChanged,
    LeaveReason,
    MediaChanged,
    ParticipantAdmitted,
    ParticipantLeft,
    ParticipantWaiting,
    PrivateChatPosted,
    RoomSettings,
    SeatTakenOver,
    SessionEnded,
    SettingsChanged,
    UnmuteRequestAnswered,
    UnmuteRequested,
    WaitingParticipantLeft,
)
from rooms.rounds import RoundOrder
from rooms.schedule import Schedule
from tests.rooms.conftest import admitted, identity

MIC, CAM = Device.MICROPHONE, Device.CAMERA


class TestWaitingRoom:
    def test_members_wait_and_facilitators_enter(self, room: Room) -> None:
        events = room.join(identity("p_m"))
        assert isinstance(events[0], ParticipantWaiting)
        assert room.participant("p_m").state is ParticipantState.WAITING
        assert room.participant("p_fac").state is ParticipantState.ADMITTED

    def test_admit_moves_a_waiting_member_in(self, room: Room) -> None:
        room.join(identity("p_m"))
        [event] = room.admit("p_fac", "p_m")
        assert isinstance(event, ParticipantAdmitted)
        assert room.participant("p_m").state is ParticipantState.ADMITTED

    def test_deny_bars_the_token(self, room: Room) -> None:
        room.join(identity("p_m"))
        [event] = room.deny("p_fac", "p_m")
        assert isinstance(event, WaitingParticipantLeft)
        assert event.reason is LeaveReason.DENIED and event.also_to == "p_m"
        assert not room.is_present("p_m")
        with pytest.raises(Barred):
            room.join(identity("p_m"))

    def test_admit_all_in_arrival_order(self, room: Room) -> None:
        for pid in ("p_b", "p_a", "p_c"):
            room.join(identity(pid))
        events = room.admit_all("p_fac")
        order = [e.participant.participant_id for e in events if isinstance(e, ParticipantAdmitted)]
        assert order == ["p_b", "p_a", "p_c"]
        assert not list(room.waiting())

    def test_admit_all_stops_at_capacity(self, clock: FixedClock) -> None:
        room = Room("r", clock, settings=RoomSettings(capacity=2))
        room.join(identity("p_fac", Role.FACILITATOR))
        room.join(identity("p_a"))
        room.join(identity("p_b"))
        room.admit_all("p_fac")
        assert [p.id for p in room.waiting()] == ["p_b"]
        with pytest.raises(RoomFull):
            room.admit("p_fac", "p_b")

    def test_auto_admit(self, room: Room) -> None:
        room.set_auto_admit("p_fac", True)
        [event] = room.join(identity("p_m"))
        assert isinstance(event, ParticipantAdmitted)

    def test_admit_needs_someone_waiting(self, room: Room) -> None:
        admitted(room, "p_m")
        with pytest.raises(NotWaiting):
            room.admit("p_fac", "p_m")
        with pytest.raises(NotInRoom):
            room.admit("p_fac", "p_nobody")

    def test_a_waiting_member_cannot_act_in_the_room(self, room: Room) -> None:
        room.join(identity("p_m"))
        with pytest.raises(NotInRoom):
            room.raise_hand("p_m")

    def test_a_waiting_member_sees_no_roster(self, room: Room) -> None:
        admitted(room, "p_a")
        room.join(identity("p_w"))
        snapshot = room.snapshot_for("p_w")
        assert snapshot.participants == () and snapshot.waiting == ()
        assert snapshot.you.state is ParticipantState.WAITING

    def test_only_facilitators_see_the_waiting_list(self, room: Room) -> None:
        admitted(room, "p_a")
        room.join(identity("p_w"))
        assert [v.participant_id for v in room.snapshot_for("p_fac").waiting] == ["p_w"]
        assert room.snapshot_for("p_a").waiting == ()
        assert {v.participant_id for v in room.snapshot_for("p_a").participants} == {
            "p_fac",
            "p_a",
        }


class TestConsent:
    def test_members_must_accept_ground_rules_before_admission(self, clock: FixedClock) -> None:
        room = Room("r", clock, ground_rules="What is said here stays here.")
        room.join(identity("p_fac", Role.FACILITATOR))
        room.join(identity("p_m"))
        with pytest.raises(ConsentRequired):
            room.admit("p_fac", "p_m")
        room.accept_ground_rules("p_m")
        room.admit("p_fac", "p_m")
        assert room.participant("p_m").state is ParticipantState.ADMITTED
        assert [r.action for r in room.audit][-2:] == ["ground_rules_accepted", "admit"]

    def test_auto_admit_waits_for_consent(self, clock: FixedClock) -> None:
        room = Room("r", clock, ground_rules="Rules", settings=RoomSettings(auto_admit=True))
        room.join(identity("p_m"))
        assert room.participant("p_m").state is ParticipantState.WAITING
        [event] = room.accept_ground_rules("p_m")
        assert isinstance(event, ParticipantAdmitted)

    def test_admit_all_skips_who_has_not_consented(self, clock: FixedClock) -> None:
        room = Room("r", clock, ground_rules="Rules")
        room.join(identity("p_fac", Role.FACILITATOR))
        room.join(identity("p_yes"))
        room.join(identity("p_no"))
        room.accept_ground_rules("p_yes")
        room.admit_all("p_fac")
        assert [p.id for p in room.waiting()] == ["p_no"]


class TestMuteModel:
    def test_self_mute_and_unmute(self, room: Room) -> None:
        admitted(room, "p_m", microphone=True)
        assert room.may_be_heard("p_m")
        [event] = room.set_own_media("p_m", MIC, False)
        assert isinstance(event, MediaChanged) and event.by is None
        assert not room.may_be_heard("p_m")
        room.set_own_media("p_m", MIC, True)
        assert room.may_be_heard("p_m")

    def test_facilitator_mute_holds(self, room: Room) -> None:
        admitted(room, "p_m", microphone=True)
        [event] = room.mute("p_fac", "p_m", MIC)
        assert isinstance(event, MediaChanged) and event.by == "p_fac"
        assert event.microphone == DeviceState(on=False, held=True)
        with pytest.raises(UnmuteNotAllowed):
            room.set_own_media("p_m", MIC, True)
        assert not room.may_be_heard("p_m")

    def test_the_room_may_let_members_lift_a_facilitator_mute(self, room: Room) -> None:
        admitted(room, "p_m", microphone=True)
        room.mute("p_fac", "p_m", MIC)
        room.set_self_unmute("p_fac", True)
        room.set_own_media("p_m", MIC, True)
        assert room.may_be_heard("p_m")

    def test_allow_unmute_lifts_the_hold_but_does_not_unmute(self, room: Room) -> None:
        admitted(room, "p_m", microphone=True)
        room.mute("p_fac", "p_m", MIC)
        room.allow_unmute("p_fac", "p_m", MIC)
        assert not room.may_be_heard("p_m")
        room.set_own_media("p_m", MIC, True)
        assert room.may_be_heard("p_m")

    def test_a_facilitator_can_only_ask(self, room: Room) -> None:
        admitted(room, "p_m")
        room.mute("p_fac", "p_m", MIC)
        [event] = room.ask_to_unmute("p_fac", "p_m", MIC)
        assert isinstance(event, UnmuteRequested) and event.also_to == "p_m"
        assert not room.may_be_heard("p_m")
        answered, changed = room.answer_unmute_request("p_m", MIC, accept=True)
        assert isinstance(answered, UnmuteRequestAnswered) and answered.accepted
        assert isinstance(changed, MediaChanged)
        assert room.may_be_heard("p_m")

    def test_declining_changes_nothing(self, room: Room) -> None:
        admitted(room, "p_m")
        room.mute("p_fac", "p_m", MIC)
        room.ask_to_unmute("p_fac", "p_m", MIC)
        [event] = room.answer_unmute_request("p_m", MIC, accept=False)
        assert isinstance(event, UnmuteRequestAnswered) and not event.accepted
        assert room.participant("p_m").microphone == DeviceState(on=False, held=True)

    def test_answer_without_a_request(self, room: Room) -> None:
        admitted(room, "p_m")
        with pytest.raises(NoPendingRequest):
            room.answer_unmute_request("p_m", MIC, accept=True)

    def test_asking_someone_already_on(self, room: Room) -> None:
        admitted(room, "p_m", microphone=True)
        with pytest.raises(InvalidCommand):
            room.ask_to_unmute("p_fac", "p_m", MIC)

    def test_camera_works_the_same(self, room: Room) -> None:
        admitted(room, "p_m", camera=True)
        assert room.may_be_seen("p_m")
        room.mute("p_fac", "p_m", CAM)
        assert not room.may_be_seen("p_m")
        with pytest.raises(UnmuteNotAllowed):
            room.set_own_media("p_m", CAM, True)

    def test_mute_all_spares_facilitators(self, room: Room) -> None:
        room.set_own_media("p_fac", MIC, True)
        admitted(room, "p_a", microphone=True)
        admitted(room, "p_b", microphone=True)
        events = room.mute_all("p_fac")
        assert {e.participant_id for e in events if isinstance(e, MediaChanged)} == {"p_a", "p_b"}
        assert room.may_be_heard("p_fac")
        assert not room.may_be_heard("p_a") and not room.may_be_heard("p_b")

    def test_a_hold_survives_a_reconnect(self, room: Room) -> None:
        admitted(room, "p_m", microphone=True)
        room.mute("p_fac", "p_m", MIC)
        room.leave("p_m", LeaveReason.DISCONNECTED)
        room.join(identity("p_m"), microphone=True)
        assert room.participant("p_m").state is ParticipantState.ADMITTED
        assert room.participant("p_m").microphone == DeviceState(on=False, held=True)

    def test_observers_are_never_heard_or_seen(self, room: Room) -> None:
        admitted(room, "p_o", Role.OBSERVER, microphone=True, camera=True)
        assert not room.may_be_heard("p_o") and not room.may_be_seen("p_o")
        with pytest.raises(PermissionDenied):
            room.set_own_media("p_o", MIC, True)

    def test_waiting_members_are_not_heard(self, room: Room) -> None:
        room.join(identity("p_w"), microphone=True)
        assert not room.may_be_heard("p_w")


class TestRemovalLockEnd:
    def test_remove_bars_the_token(self, room: Room) -> None:
        admitted(room, "p_m")
        [event] = room.remove("p_fac", "p_m")
        assert isinstance(event, ParticipantLeft) and event.reason is LeaveReason.REMOVED
        assert event.also_to == "p_m"
        with pytest.raises(Barred):
            room.join(identity("p_m"))

    def test_lock_stops_new_arrivals_but_not_returning_ones(self, room: Room) -> None:
        admitted(room, "p_m")
        room.leave("p_m", LeaveReason.DISCONNECTED)
        [event] = room.lock("p_fac", True)
        assert isinstance(event, SettingsChanged) and event.settings.locked
        with pytest.raises(RoomLocked):
            room.join(identity("p_new"))
        room.join(identity("p_m"))
        assert room.participant("p_m").state is ParticipantState.ADMITTED

    def test_end_session_for_everyone(self, room: Room) -> None:
        admitted(room, "p_m")
        room.join(identity("p_w"))
        [event] = room.end_session("p_fac")
        assert isinstance(event, SessionEnded)
        assert room.ended and not list(room.admitted()) and not list(room.waiting())
        with pytest.raises(RoomEnded):
            room.join(identity("p_m"))

    def test_a_cofacilitator_cannot_remove_the_facilitator(self, room: Room) -> None:
        admitted(room, "p_co", Role.COFACILITATOR)
        with pytest.raises(PermissionDenied):
            room.remove("p_co", "p_fac")
        assert room.is_present("p_fac")

    def test_nobody_moderates_themselves(self, room: Room) -> None:
        with pytest.raises(InvalidCommand):
            room.mute("p_fac", "p_fac", MIC)

    def test_leaving_lowers_the_hand(self, room: Room) -> None:
        admitted(room, "p_m")
        room.raise_hand("p_m")
        events = room.leave("p_m")
        assert isinstance(events[1], HandQueueChanged) and events[1].queue == ()

    def test_a_second_join_keeps_the_place(self, room: Room) -> None:
        admitted(room, "p_m")
        # A second connection takes the seat over: facilitators are told (seat_taken_over).
        assert room.join(identity("p_m")) == [SeatTakenOver("p_m")]
        assert room.participant("p_m").state is ParticipantState.ADMITTED


class TestHandsAndChat:
    def test_hands_queue_in_order(self, room: Room) -> None:
        for pid in ("p_a", "p_b", "p_c"):
            admitted(room, pid)
        room.raise_hand("p_b")
        room.raise_hand("p_a")
        assert room.raise_hand("p_b") == []
        [event] = room.raise_hand("p_c")
        assert isinstance(event, HandQueueChanged) and event.queue == ("p_b", "p_a", "p_c")
        room.lower_hand("p_fac", "p_a")
        assert tuple(room.hands) == ("p_b", "p_c")

    def test_chat_can_be_turned_off_for_members(self, room: Room) -> None:
        admitted(room, "p_m")
        room.set_chat_enabled("p_fac", False)
        with pytest.raises(ChatDisabled):
            room.send_chat("p_m", "hello", to_facilitators=False)
        [event] = room.send_chat("p_m", "I need a minute", to_facilitators=True)
        assert isinstance(event, PrivateChatPosted) and event.also_to == "p_m"
        room.send_chat("p_fac", "back in five", to_facilitators=False)

    def test_empty_messages_are_refused(self, room: Room) -> None:
        with pytest.raises(InvalidCommand):
            room.send_chat("p_fac", "   ", to_facilitators=False)


class TestAudit:
    def test_moderation_is_recorded_without_names(self, room: Room, clock: FixedClock) -> None:
        room.join(identity("p_m", name="Alice Example"))
        clock.advance(5)
        room.admit("p_fac", "p_m")
        room.mute("p_fac", "p_m", MIC)
        room.remove("p_fac", "p_m")
        records = [r for r in room.audit if r.actor_id is not None]  # attendance aside
        assert [(r.actor_id, r.target_id, r.action) for r in records] == [
            ("p_fac", "p_m", "admit"),
            ("p_fac", "p_m", "mute_microphone"),
            ("p_fac", "p_m", "remove"),
        ]
        assert records[0].at == clock.now()
        assert "Alice" not in repr(list(room.audit))

    def test_attendance_is_recorded_with_ids_and_times(
        self, room: Room, clock: FixedClock
    ) -> None:
        room.join(identity("p_m", name="Alice Example"))
        clock.advance(5)
        room.admit("p_fac", "p_m")
        room.connection_lost("p_m")
        room.join(identity("p_m"))
        room.leave("p_m")
        attendance = [(r.target_id, r.action) for r in room.audit if r.target_id == "p_m"]
        assert attendance == [
            ("p_m", "join"),
            ("p_m", "admit"),
            ("p_m", "connection_lost"),
            ("p_m", "reconnected"),
            ("p_m", "leave_left"),
        ]
        assert "Alice" not in repr(list(room.audit))


# -- every command x every role, from the one permission table -------------------------


def _run(room: Room, command: Command, actor: str) -> None:
    """Run ``command`` as ``actor`` against a member target p_t (hand raised, mic off)."""
    target = "p_t"
    runs = {
        Command.LEAVE: lambda: room.leave(actor),
        Command.SET_OWN_MEDIA: lambda: room.set_own_media(actor, MIC, True),
        Command.ANSWER_UNMUTE_REQUEST: lambda: room.answer_unmute_request(actor, MIC, True),
        Command.RAISE_HAND: lambda: room.raise_hand(actor),
        Command.LOWER_HAND: lambda: room.lower_hand(actor),
        Command.SEND_CHAT: lambda: room.send_chat(actor, "hi", to_facilitators=False),
        Command.SEND_CHAT_TO_FACILITATORS: lambda: room.send_chat(actor, "?", to_facilitators=True),
        Command.ACCEPT_GROUND_RULES: lambda: room.accept_ground_rules(actor),
        Command.ADMIT: lambda: room.admit(actor, "p_w"),
        Command.DENY: lambda: room.deny(actor, "p_w"),
        Command.ADMIT_ALL: lambda: room.admit_all(actor),
        Command.SET_AUTO_ADMIT: lambda: room.set_auto_admit(actor, True),
        Command.MUTE: lambda: room.mute(actor, target, CAM),
        Command.MUTE_ALL: lambda: room.mute_all(actor),
        Command.ASK_TO_UNMUTE: lambda: room.ask_to_unmute(actor, target, MIC),
        Command.ALLOW_UNMUTE: lambda: room.allow_unmute(actor, target, MIC),
        Command.SET_SELF_UNMUTE: lambda: room.set_self_unmute(actor, True),
        Command.REMOVE: lambda: room.remove(actor, target),
        Command.LOCK: lambda: room.lock(actor, True),
        Command.SET_CHAT_ENABLED: lambda: room.set_chat_enabled(actor, False),
        Command.LOWER_HAND_OF_OTHER: lambda: room.lower_hand(actor, target),
        Command.END_SESSION: lambda: room.end_session(actor),
        Command.YIELD_FLOOR: lambda: room.yield_floor(actor),
        Command.FINISH_TURN: lambda: room.finish_turn(actor, passed=True),
        Command.GIVE_FLOOR: lambda: room.give_floor(actor, target),
        Command.TAKE_BACK_FLOOR: lambda: room.take_back_floor(actor),
        Command.SET_FLOOR_MODE: lambda: room.set_floor_mode(actor, True),
        Command.RUN_ROUND: lambda: room.start_round(actor, RoundOrder.JOIN),
        Command.VIEW_AUDIT: lambda: room.audit_records(actor),
        Command.SET_SCHEDULE: lambda: room.set_schedule(actor, Schedule(ends_at=2e9)),
        Command.SET_GROUND_RULES: lambda: room.set_ground_rules(actor, "Be kind."),
        Command.REQUEST_CHECK_IN: lambda: room.request_check_in(actor),
        Command.ACKNOWLEDGE_CHECK_IN: lambda: room.acknowledge_check_in(actor, target),
        Command.SPOTLIGHT: lambda: room.spotlight(actor, target),
        Command.SHARE_SCREEN: lambda: room.start_screen_share(actor),
        Command.MANAGE_SCREEN_SHARE: lambda: room.allow_screen_share(actor, target, True),
        Command.MANAGE_SIDE_ROOMS: lambda: room.open_side_room(actor, [target]),
    }
    runs[command]()


# Talk time is a view, not a command: its permission is tested through snapshots.
ROOM_COMMANDS = [c for c in Command if c is not Command.VIEW_TALK_TIME]


@pytest.mark.parametrize("command", ROOM_COMMANDS)
@pytest.mark.parametrize("role", list(Role))
def test_every_command_for_every_role(command: Command, role: Role, clock: FixedClock) -> None:
    room = Room("r", clock, ground_rules="")
    room.join(identity("p_fac", Role.FACILITATOR))
    admitted(room, "p_t", microphone=False)
    room.raise_hand("p_t")
    room.mute("p_fac", "p_t", MIC)
    room.join(identity("p_w"))
    actor = "p_actor" if role is not Role.FACILITATOR else "p_fac"
    if actor != "p_fac":
        admitted(room, actor, role)
    if role in (Role.MEMBER, Role.COFACILITATOR):
        room.ask_to_unmute("p_fac", actor, MIC)
    before_audit = len(room.audit)
    if role in PERMISSIONS[command]:
        try:
            _run(room, command, actor)
        except RoomError as error:
            # Allowed, but refused for the room's state (e.g. nothing to answer): fine.
            assert not isinstance(error, PermissionDenied)
    else:
        state = (room.settings, [room.view(p) for p in room.admitted()], len(room.audit))
        with pytest.raises(PermissionDenied):
            _run(room, command, actor)
        assert (room.settings, [room.view(p) for p in room.admitted()], len(room.audit)) == state
        assert len(room.audit) == before_audit


class TestOperatorsAndPresence:
    def test_an_operator_ends_a_session_with_a_reason(self, room: Room) -> None:
        admitted(room, "p_m")
        with pytest.raises(InvalidCommand):
            room.end_by_operator("op_1", "   ")
        assert not room.ended
        [event] = room.end_by_operator("op_1", "runaway room")
        assert isinstance(event, SessionEnded) and event.reason == "ended_by_operator"
        last = list(room.audit)[-1]
        assert (last.actor_id, last.action, last.reason) == (
            "op_1",
            "end_session_by_operator",
            "runaway room",
        )

    def test_left_without_facilitator(self, room: Room, clock: FixedClock) -> None:
        assert room.started_at == clock.now()
        admitted(room, "p_m")
        assert not room.left_without_facilitator()
        room.leave("p_fac", LeaveReason.DISCONNECTED)
        assert room.left_without_facilitator()
        admitted(room, "p_co", Role.COFACILITATOR)
        assert not room.left_without_facilitator()

    def test_members_waiting_for_the_first_facilitator_are_not_an_alarm(
        self, clock: FixedClock
    ) -> None:
        room = Room("r", clock, settings=RoomSettings(auto_admit=True))
        room.join(identity("p_m"))
        assert room.started_at is None and not room.left_without_facilitator()


def test_moderation_acts_only_on_admitted_people(room: Room) -> None:
    room.join(identity("p_wait"), microphone=True)
    for command in (
        lambda: room.mute("p_fac", "p_wait", Device.MICROPHONE),
        lambda: room.ask_to_unmute("p_fac", "p_wait", Device.CAMERA),
        lambda: room.allow_unmute("p_fac", "p_wait", Device.MICROPHONE),
        lambda: room.lower_hand("p_fac", "p_wait"),
        lambda: room.remove("p_fac", "p_wait"),
    ):
        with pytest.raises(NotAdmitted) as refused:
            command()
        assert refused.value.code == "not_in_room"
    assert room.participant("p_wait").microphone.on


def test_the_waiting_room_is_bounded(clock: FixedClock) -> None:
    from rooms.errors import WaitingRoomFull

    room = Room("r", clock, waiting_room_size=2)
    room.join(identity("p_fac", Role.FACILITATOR))
    room.join(identity("p_a"))
    room.join(identity("p_b"))
    with pytest.raises(WaitingRoomFull):
        room.join(identity("p_c"))
    room.admit("p_fac", "p_a")
    room.join(identity("p_c"))  # a place came free
