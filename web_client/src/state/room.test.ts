import { describe, expect, it } from "vitest";
import type { ParticipantView, RoomSnapshot, RoundView } from "../protocol/types";
import {
  DEFAULT_SETTINGS,
  floorHolder,
  floorLetsMeBeHeard,
  formatClock,
  initialState,
  notYetHeard,
  sessionSecondsLeft,
  turnOutcome,
  turnSecondsLeft,
  whoseTurn,
  youAreNext,
  mayTurnOn,
  mutedByFacilitator,
  needsGroundRules,
  others,
  reduce,
  createRoomStore,
  companions,
  mayShareScreen,
  myCheckIn,
  spotlighted,
  videoPause,
  type Action,
  type RoomState,
} from "./room";

function person(id: string, name: string, extra: Partial<ParticipantView> = {}): ParticipantView {
  return {
    participant_id: id,
    display_name: name,
    role: "member",
    state: "admitted",
    microphone: { on: true, held: false },
    camera: { on: true, held: false },
    hand_raised: false,
    accepted_ground_rules: true,
    joined_at: 0,
    ...extra,
  };
}

const ANNA = person("p_anna", "Anna");
const BEN = person("p_ben", "Ben");
const FAY = person("p_fay", "Fay", { role: "facilitator" });

function snapshot(you: ParticipantView, extra: Partial<RoomSnapshot> = {}): RoomSnapshot {
  const admitted = you.state === "admitted";
  return {
    room_id: "r1",
    title: "Tuesday group",
    ended: false,
    settings: DEFAULT_SETTINGS,
    ground_rules: "",
    you,
    participants: admitted ? [FAY, you] : [],
    waiting: [],
    hand_queue: [],
    floor: admitted ? { mode: false, holder_id: null, ends_at: null } : null,
    round: null,
    schedule: { starts_at: null, ends_at: null, hard_end: false, late_cutoff_at: null },
    speaking: [],
    talk_balance: null,
    spotlight_id: null,
    screen_sharer_id: null,
    screen_share_allowed: [],
    side_rooms: [],
    check_ins: [],
    ...extra,
  };
}

function run(actions: Action[], start: RoomState = initialState(true)): RoomState {
  return actions.reduce(reduce, start);
}

describe("joining", () => {
  it("starts at the device check with a link, and explains without one", () => {
    expect(initialState(true).phase).toBe("device_check");
    expect(initialState(false).phase).toBe("no_link");
  });

  it("waits, then enters the room when the server sends the admitted snapshot", () => {
    const waitingAnna = { ...ANNA, state: "waiting" as const };
    const waiting = run([{ type: "join_sent" }, { type: "joined", snapshot: snapshot(waitingAnna) }]);
    expect(waiting.phase).toBe("waiting");
    expect(waiting.participants).toEqual([]);
    const admitted = reduce(waiting, { type: "room_snapshot", payload: snapshot(ANNA) });
    expect(admitted.phase).toBe("in_room");
    expect(others(admitted).map((p) => p.display_name)).toEqual(["Fay"]);
  });

  it("shows the refusal code of a refused join", () => {
    const state = run([{ type: "join_sent" }, { type: "join_refused", code: "token_expired", message: "expired" }]);
    expect(state.phase).toBe("refused");
    expect(state.error?.code).toBe("token_expired");
  });

  it("asks for the ground rules only while they are not accepted", () => {
    const waitingAnna = { ...ANNA, state: "waiting" as const, accepted_ground_rules: false };
    const state = run([{ type: "joined", snapshot: snapshot(waitingAnna, { ground_rules: "Be kind." }) }]);
    expect(needsGroundRules(state)).toBe(true);
    expect(needsGroundRules(reduce(state, { type: "ground_rules_accepted" }))).toBe(false);
  });

  it("treats a snapshot of an ended room as the end", () => {
    expect(run([{ type: "joined", snapshot: snapshot(ANNA, { ended: true }) }]).phase).toBe("ended");
  });

  it("a server restart keeps you in the room and says you will be back", () => {
    const state = run([
      { type: "joined", snapshot: snapshot(ANNA) },
      { type: "server_shutting_down", payload: { retry_after_s: 2, sessions_continue: true } },
    ]);
    expect(state.phase).toBe("in_room");
    expect(state.notice).toMatch(/back in the session/);
    const rejoined = reduce(state, { type: "joined", snapshot: snapshot(ANNA) });
    expect(rejoined.phase).toBe("in_room");
  });

  it("a server shutting down without a session store says the session ends", () => {
    const state = run([
      { type: "joined", snapshot: snapshot(ANNA) },
      { type: "server_shutting_down", payload: { retry_after_s: 2, sessions_continue: false } },
    ]);
    expect(state.notice).toMatch(/session is ending/);
  });

  it("a rejoin refused because the session ended shows the end, not an error", () => {
    const state = run([
      { type: "joined", snapshot: snapshot(ANNA) },
      { type: "join_refused", code: "room_ended", message: "this session has ended" },
    ]);
    expect(state.phase).toBe("ended");
  });
});

describe("dropped connections", () => {
  const inRoom = run([{ type: "joined", snapshot: snapshot(ANNA, { participants: [FAY, ANNA, BEN] }) }]);

  it("marks someone else's tile as reconnecting, and back", () => {
    const dropped = reduce(inRoom, { type: "participant_reconnecting", payload: { participant_id: "p_ben", reconnecting: true } });
    expect(dropped.participants.find((p) => p.participant_id === "p_ben")?.reconnecting).toBe(true);
    expect(others(dropped).map((p) => p.display_name)).toEqual(["Fay", "Ben"]); // still in the room
    const back = reduce(dropped, { type: "participant_reconnecting", payload: { participant_id: "p_ben", reconnecting: false } });
    expect(back.participants.find((p) => p.participant_id === "p_ben")?.reconnecting).toBe(false);
  });

  it("counts our own attempts while reconnecting, and forgets them once connected", () => {
    const retrying = run(
      [
        { type: "connection", status: "reconnecting" },
        { type: "connection", status: "reconnecting", attempt: 1 },
        { type: "connection", status: "reconnecting", attempt: 2 },
      ],
      inRoom,
    );
    expect(retrying.connection).toBe("reconnecting");
    expect(retrying.reconnectAttempts).toBe(2);
    expect(retrying.phase).toBe("in_room"); // we keep our place meanwhile
    const back = reduce(retrying, { type: "connection", status: "connected" });
    expect(back.reconnectAttempts).toBe(0);
  });
});

describe("the facilitator's lists", () => {
  const fay = run([{ type: "joined", snapshot: snapshot(FAY, { participants: [FAY] }) }]);

  it("adds who waits and moves them into the room when admitted", () => {
    const waitingBen = { ...BEN, state: "waiting" as const };
    const waiting = reduce(fay, { type: "participant_waiting", payload: { participant: waitingBen } });
    expect(waiting.waiting.map((p) => p.display_name)).toEqual(["Ben"]);
    const admitted = reduce(waiting, { type: "participant_admitted", payload: { participant: BEN } });
    expect(admitted.waiting).toEqual([]);
    expect(others(admitted).map((p) => p.display_name)).toEqual(["Ben"]);
  });

  it("updates a waiting entry in place when they accept the ground rules", () => {
    const unaccepted = { ...BEN, state: "waiting" as const, accepted_ground_rules: false };
    const state = run(
      [
        { type: "participant_waiting", payload: { participant: unaccepted } },
        { type: "participant_waiting", payload: { participant: { ...unaccepted, accepted_ground_rules: true } } },
      ],
      fay,
    );
    expect(state.waiting).toHaveLength(1);
    expect(state.waiting[0].accepted_ground_rules).toBe(true);
  });

  it("keeps the hand queue in the server's order and marks the tiles", () => {
    const state = run(
      [
        { type: "participant_admitted", payload: { participant: ANNA } },
        { type: "participant_admitted", payload: { participant: BEN } },
        { type: "hand_queue_changed", payload: { queue: ["p_ben", "p_anna"] } },
      ],
      fay,
    );
    expect(state.handQueue).toEqual(["p_ben", "p_anna"]);
    expect(state.participants.filter((p) => p.hand_raised).map((p) => p.participant_id).sort()).toEqual([
      "p_anna",
      "p_ben",
    ]);
  });

  it("forgets someone who left: tile, waiting entry, hand and speaking", () => {
    const state = run(
      [
        { type: "participant_admitted", payload: { participant: BEN } },
        { type: "hand_queue_changed", payload: { queue: ["p_ben"] } },
        { type: "speaking_changed", payload: { participant_id: "p_ben", speaking: true } },
        { type: "participant_left", payload: { participant_id: "p_ben", reason: "removed" } },
      ],
      fay,
    );
    expect(others(state)).toEqual([]);
    expect(state.handQueue).toEqual([]);
    expect(state.speaking).toEqual({});
    expect(state.phase).toBe("in_room");
  });

  it("tells the facilitator how an ask to unmute was answered", () => {
    const state = run(
      [
        { type: "participant_admitted", payload: { participant: BEN } },
        {
          type: "unmute_request_answered",
          payload: { participant_id: "p_ben", device: "microphone", accepted: false },
        },
      ],
      fay,
    );
    expect(state.notice).toBe("Ben would rather keep their microphone off for now.");
  });
});

describe("being muted", () => {
  const anna = run([{ type: "joined", snapshot: snapshot(ANNA) }]);

  it("says the facilitator muted you, and holds the unmute while the room forbids it", () => {
    const state = reduce(anna, {
      type: "media_changed",
      payload: { participant_id: "p_anna", microphone: { on: false, held: true }, camera: ANNA.camera, by: "p_fay" },
    });
    expect(state.me?.microphone.on).toBe(false);
    expect(mutedByFacilitator(state)).toBe(true);
    expect(mayTurnOn(state, "microphone")).toBe(false);
    const allowed = reduce(state, {
      type: "settings_changed",
      payload: { settings: { ...DEFAULT_SETTINGS, self_unmute_allowed: true } },
    });
    expect(mayTurnOn(allowed, "microphone")).toBe(true);
  });

  it("muting yourself is not being muted by the facilitator", () => {
    const state = reduce(anna, {
      type: "media_changed",
      payload: { participant_id: "p_anna", microphone: { on: false, held: false }, camera: ANNA.camera, by: null },
    });
    expect(mutedByFacilitator(state)).toBe(false);
    expect(mayTurnOn(state, "microphone")).toBe(true);
  });

  it("a facilitator may always switch their own microphone back on", () => {
    const fay = run([{ type: "joined", snapshot: snapshot({ ...FAY, microphone: { on: false, held: true } }) }]);
    expect(mayTurnOn(fay, "microphone")).toBe(true);
  });

  it("an ask to unmute waits for the answer, and clears once the microphone is on", () => {
    const asked = reduce(anna, {
      type: "unmute_requested",
      payload: { participant_id: "p_anna", device: "microphone", by: "p_fay" },
    });
    expect(asked.unmuteRequest).toBe("microphone");
    const on = reduce(asked, {
      type: "media_changed",
      payload: { participant_id: "p_anna", microphone: { on: true, held: false }, camera: ANNA.camera, by: null },
    });
    expect(on.unmuteRequest).toBeNull();
  });

  it("ignores an ask meant for someone else", () => {
    const state = reduce(anna, {
      type: "unmute_requested",
      payload: { participant_id: "p_ben", device: "microphone", by: "p_fay" },
    });
    expect(state.unmuteRequest).toBeNull();
  });
});

describe("leaving and the end", () => {
  const anna = run([{ type: "joined", snapshot: snapshot(ANNA) }]);

  it("removed, denied and ended are final: later events change nothing", () => {
    const removed = reduce(anna, { type: "participant_left", payload: { participant_id: "p_anna", reason: "removed" } });
    expect(removed.phase).toBe("removed");
    expect(reduce(removed, { type: "room_snapshot", payload: snapshot(ANNA) })).toBe(removed);
    const ended = reduce(anna, { type: "session_ended", payload: { ended_by: "p_fay", reason: "ended" } });
    expect(ended.phase).toBe("ended");
    const denied = reduce(
      run([{ type: "joined", snapshot: snapshot({ ...ANNA, state: "waiting" }) }]),
      { type: "participant_left", payload: { participant_id: "p_anna", reason: "denied" } },
    );
    expect(denied.phase).toBe("denied");
  });

  it("an old connection's departure does not end our stay", () => {
    const state = reduce(anna, { type: "participant_left", payload: { participant_id: "p_anna", reason: "disconnected" } });
    expect(state.phase).toBe("in_room");
  });

  it("keeps the chat across a reconnect's fresh snapshot", () => {
    const state = run(
      [
        {
          type: "chat_message",
          payload: { message: { message_id: 1, sender_id: "p_fay", text: "Welcome", to_facilitators: false, sent_at: 1 } },
        },
        { type: "connection", status: "reconnecting" },
        { type: "room_snapshot", payload: snapshot(ANNA) },
      ],
      anna,
    );
    expect(state.chat.map((m) => [m.sender_name, m.text])).toEqual([["Fay", "Welcome"]]);
    expect(state.connection).toBe("reconnecting");
  });

  it("drops a duplicate chat message", () => {
    const message = { message_id: 7, sender_id: "p_anna", text: "hi", to_facilitators: true, sent_at: 1 };
    const state = run(
      [
        { type: "chat_message", payload: { message } },
        { type: "chat_message", payload: { message } },
      ],
      anna,
    );
    expect(state.chat).toHaveLength(1);
  });
});

describe("RoomStore", () => {
  it("notifies only on a change", () => {
    const store = createRoomStore(true);
    const seen: string[] = [];
    store.subscribe((s) => seen.push(s.phase));
    store.dispatch({ type: "notice_dismissed" });
    store.dispatch({ type: "join_sent" });
    expect(seen).toEqual(["joining"]);
  });
});

// -- facilitation: the floor, go-arounds, talk time, the clock, ground rules ------------

const CLEO = person("p_cleo", "Cleo");

function inRoom(you: ParticipantView, extra: Partial<RoomSnapshot> = {}): RoomState {
  return run([
    { type: "joined", snapshot: { ...snapshot(you), participants: [FAY, ANNA, BEN, CLEO], ...extra } },
  ]);
}

function round(extra: Partial<RoundView> = {}): RoundView {
  return {
    order: ["p_anna", "p_ben", "p_cleo"],
    current_id: "p_anna",
    next_id: "p_ben",
    turn_seconds: 120,
    turn_ends_at: 1000,
    outcomes: [],
    ...extra,
  };
}

describe("the floor", () => {
  it("takes floor, round, schedule, speaking and balance from the snapshot", () => {
    const state = inRoom(FAY, {
      floor: { mode: true, holder_id: "p_ben", ends_at: null },
      round: round(),
      schedule: { starts_at: 10, ends_at: 4000, hard_end: false, late_cutoff_at: null },
      speaking: ["p_ben"],
      talk_balance: { shares: [], not_yet_spoken: ["p_cleo"] },
    });
    expect(state.floor.mode).toBe(true);
    expect(state.round?.current_id).toBe("p_anna");
    expect(state.schedule.ends_at).toBe(4000);
    expect(state.speaking).toEqual({ p_ben: true });
    expect(notYetHeard(state)).toEqual(["Cleo"]);
  });

  it("treats a waiting snapshot's null floor as no floor", () => {
    const state = run([{ type: "joined", snapshot: snapshot(person("p_anna", "Anna", { state: "waiting" })) }]);
    expect(state.floor).toEqual({ mode: false, holder_id: null, ends_at: null });
    expect(state.round).toBeNull();
  });

  it("follows floor_changed: a member without the floor cannot be heard in floor mode", () => {
    let state = inRoom(ANNA);
    expect(floorLetsMeBeHeard(state)).toBe(true);
    state = reduce(state, { type: "floor_changed", payload: { floor: { mode: true, holder_id: null, ends_at: null } } });
    expect(floorLetsMeBeHeard(state)).toBe(false);
    state = reduce(state, { type: "floor_changed", payload: { floor: { mode: true, holder_id: "p_anna", ends_at: 50 } } });
    expect(floorHolder(state)).toBe("p_anna");
    expect(floorLetsMeBeHeard(state)).toBe(true);
  });

  it("always lets a facilitator be heard", () => {
    const state = reduce(inRoom(FAY), {
      type: "floor_changed",
      payload: { floor: { mode: true, holder_id: "p_ben", ends_at: null } },
    });
    expect(floorLetsMeBeHeard(state)).toBe(true);
  });

  it("says you're next when your hand is first and nobody gave you the floor yet", () => {
    let state = reduce(inRoom(BEN), { type: "hand_queue_changed", payload: { queue: ["p_ben", "p_anna"] } });
    expect(youAreNext(state)).toBe(true);
    expect(youAreNext(reduce(state, { type: "hand_queue_changed", payload: { queue: ["p_anna", "p_ben"] } }))).toBe(false);
    state = reduce(state, { type: "floor_changed", payload: { floor: { mode: false, holder_id: "p_ben", ends_at: null } } });
    expect(youAreNext(state)).toBe(false);
  });
});

describe("go-around rounds", () => {
  it("follows round_changed: whose turn, who is next, outcomes", () => {
    let state = reduce(inRoom(BEN), { type: "round_changed", payload: { round: round() } });
    expect(whoseTurn(state)).toBe("p_anna");
    expect(youAreNext(state)).toBe(true);
    expect(floorLetsMeBeHeard(state)).toBe(false); // a round restricts like floor mode
    state = reduce(state, {
      type: "round_changed",
      payload: { round: round({ current_id: "p_ben", next_id: "p_cleo", outcomes: [["p_anna", "passed"]] }) },
    });
    expect(whoseTurn(state)).toBe("p_ben");
    expect(youAreNext(state)).toBe(false);
    expect(floorLetsMeBeHeard(state)).toBe(true);
    expect(turnOutcome(state, "p_anna")).toBe("passed");
    expect(turnOutcome(state, "p_cleo")).toBeNull();
  });

  it("in a round, next is the round's next, not the first raised hand", () => {
    let state = reduce(inRoom(ANNA), { type: "hand_queue_changed", payload: { queue: ["p_anna"] } });
    state = reduce(state, { type: "round_changed", payload: { round: round({ current_id: "p_ben", next_id: "p_cleo" }) } });
    expect(youAreNext(state)).toBe(false);
  });

  it("counts the turn down by the local clock, never below zero", () => {
    const state = reduce(inRoom(ANNA), { type: "round_changed", payload: { round: round({ turn_ends_at: 1000 }) } });
    expect(turnSecondsLeft(state, 880)).toBe(120);
    expect(turnSecondsLeft(state, 999.2)).toBe(1);
    expect(turnSecondsLeft(state, 1010)).toBe(0);
    const untimed = reduce(state, { type: "round_changed", payload: { round: round({ turn_seconds: null, turn_ends_at: null }) } });
    expect(turnSecondsLeft(untimed, 880)).toBeNull();
  });

  it("keeps a turn_warning for its turn only", () => {
    let state = reduce(inRoom(ANNA), { type: "round_changed", payload: { round: round() } });
    state = reduce(state, { type: "turn_warning", payload: { participant_id: "p_anna", seconds_left: 15 } });
    expect(state.turnWarning).toEqual({ participant_id: "p_anna", seconds_left: 15 });
    state = reduce(state, { type: "round_changed", payload: { round: round({ turn_ends_at: 1060 }) } }); // extended
    expect(state.turnWarning).not.toBeNull();
    state = reduce(state, { type: "round_changed", payload: { round: round({ current_id: "p_ben", next_id: "p_cleo" }) } });
    expect(state.turnWarning).toBeNull();
  });

  it("tells everyone when the round has finished", () => {
    let state = reduce(inRoom(CLEO), { type: "round_changed", payload: { round: round() } });
    state = reduce(state, { type: "round_changed", payload: { round: null } });
    expect(state.round).toBeNull();
    expect(whoseTurn(state)).toBeNull();
    expect(state.notice).toBe("The go-around has finished.");
  });
});

describe("talk time, the session clock, ground rules", () => {
  const balance = {
    shares: [
      { participant_id: "p_anna", share: 0.75, has_spoken: true },
      { participant_id: "p_ben", share: 0.25, has_spoken: true },
      { participant_id: "p_cleo", share: 0, has_spoken: false },
    ],
    not_yet_spoken: ["p_cleo", "p_gone"],
  };

  it("keeps the talk balance for facilitators only, and drops it when the session ends", () => {
    let state = reduce(inRoom(FAY), { type: "talk_time_changed", payload: { balance } });
    expect(state.talkBalance).toEqual(balance);
    expect(notYetHeard(state)).toEqual(["Cleo"]); // someone who left is not listed
    state = reduce(state, { type: "session_ended", payload: { ended_by: "p_fay", reason: "ended" } });
    expect(state.talkBalance).toBeNull();
    const member = reduce(inRoom(ANNA), { type: "talk_time_changed", payload: { balance } });
    expect(member.talkBalance).toBeNull();
  });

  it("follows schedule_changed and counts down to the end", () => {
    const schedule = { starts_at: null, ends_at: 5000, hard_end: true, late_cutoff_at: null };
    const state = reduce(inRoom(FAY), { type: "schedule_changed", payload: { schedule } });
    expect(state.schedule).toEqual(schedule);
    expect(sessionSecondsLeft(state, 4400)).toBe(600);
    expect(sessionSecondsLeft(inRoom(FAY), 4400)).toBeNull();
  });

  it("shows a session_clock_warning until dismissed or the schedule changes", () => {
    let state = reduce(inRoom(FAY), { type: "session_clock_warning", payload: { minutes_left: 10, ends_at: 5000 } });
    expect(state.clockWarning).toEqual({ minutes_left: 10, ends_at: 5000 });
    expect(reduce(state, { type: "clock_warning_dismissed" }).clockWarning).toBeNull();
    state = reduce(state, {
      type: "schedule_changed",
      payload: { schedule: { starts_at: null, ends_at: 6000, hard_end: false, late_cutoff_at: null } },
    });
    expect(state.clockWarning).toBeNull();
  });

  it("makes a waiting member accept changed ground rules again", () => {
    const waitingAnna = person("p_anna", "Anna", { state: "waiting", accepted_ground_rules: true });
    let state = run([{ type: "joined", snapshot: snapshot(waitingAnna, { ground_rules: "Be kind." }) }]);
    expect(needsGroundRules(state)).toBe(false);
    state = reduce(state, { type: "ground_rules_changed", payload: { ground_rules: "Be kind. Stay." } });
    expect(state.groundRules).toBe("Be kind. Stay.");
    expect(needsGroundRules(state)).toBe(true);
  });

  it("marks people waiting as not yet agreed, for the facilitator", () => {
    const waiting = person("p_dan", "Dan", { state: "waiting", accepted_ground_rules: true });
    let state = inRoom(FAY, { waiting: [waiting] });
    state = reduce(state, { type: "ground_rules_changed", payload: { ground_rules: "New rules" } });
    expect(state.waiting[0].accepted_ground_rules).toBe(false);
    expect(state.notice).toBeNull(); // the facilitator changed them
    const member = reduce(inRoom(ANNA), { type: "ground_rules_changed", payload: { ground_rules: "New rules" } });
    expect(member.notice).toBe("The facilitator updated the ground rules.");
    expect(member.me?.accepted_ground_rules).toBe(true); // already in the room
  });

  it("follows speaking_changed", () => {
    let state = reduce(inRoom(FAY), { type: "speaking_changed", payload: { participant_id: "p_ben", speaking: true } });
    expect(state.speaking.p_ben).toBe(true);
    state = reduce(state, { type: "speaking_changed", payload: { participant_id: "p_ben", speaking: false } });
    expect(state.speaking.p_ben).toBe(false);
  });

  it("formats clocks", () => {
    expect(formatClock(0)).toBe("0:00");
    expect(formatClock(75)).toBe("1:15");
    expect(formatClock(3725)).toBe("1:02:05");
  });
});

describe("connection problems", () => {
  it("tell the facilitator whose connection is unstable, without blame", () => {
    const state = run([
      { type: "joined", snapshot: { ...snapshot(FAY), participants: [FAY, ANNA, BEN] } },
      { type: "connection_problem", payload: { participant_id: "p_ben", problem: "unstable_media" } },
    ]);
    expect(state.notice).toBe("Ben's connection is unstable: they may stutter for a while.");
  });
});

describe("checking in", () => {
  const request = { participant_id: "p_anna", requested_at: 1_700_000_000 };

  it("shows facilitators who asked, with a notice, until it closes", () => {
    let state = reduce(inRoom(FAY), {
      type: "check_in_changed",
      payload: { participant_id: "p_anna", request, acknowledged_by: null },
    });
    expect(state.checkIns).toEqual([request]);
    expect(state.notice).toBe("Anna asked you to check in with them (only facilitators see this).");
    state = reduce(state, {
      type: "check_in_changed",
      payload: { participant_id: "p_anna", request: null, acknowledged_by: "p_fay" },
    });
    expect(state.checkIns).toEqual([]);
  });

  it("tells the member their request was seen, and by whom", () => {
    let state = reduce(inRoom(ANNA), {
      type: "check_in_changed",
      payload: { participant_id: "p_anna", request, acknowledged_by: null },
    });
    expect(myCheckIn(state)).toEqual(request);
    expect(state.notice).toBeNull(); // their own button says it is open
    state = reduce(state, {
      type: "check_in_changed",
      payload: { participant_id: "p_anna", request: null, acknowledged_by: "p_fay" },
    });
    expect(myCheckIn(state)).toBeNull();
    expect(state.notice).toBe("Fay saw your request and will check in with you.");
  });

  it("is not shown in a notice while we share our screen", () => {
    const state = reduce(inRoom(FAY, { screen_sharer_id: "p_fay" }), {
      type: "check_in_changed",
      payload: { participant_id: "p_anna", request, acknowledged_by: null },
    });
    expect(state.checkIns).toEqual([request]);
    expect(state.notice).toBeNull();
  });

  it("comes from the snapshot, and goes with the person who leaves", () => {
    let state = inRoom(FAY, { check_ins: [request] });
    expect(state.checkIns).toEqual([request]);
    state = reduce(state, { type: "participant_left", payload: { participant_id: "p_anna", reason: "left" } });
    expect(state.checkIns).toEqual([]);
  });
});

describe("the spotlight", () => {
  it("is the facilitator's choice, else the floor holder when the room says so", () => {
    let state = inRoom(ANNA, { spotlight_id: "p_ben" });
    expect(spotlighted(state)).toBe("p_ben");
    state = reduce(state, { type: "spotlight_changed", payload: { participant_id: null } });
    state = reduce(state, { type: "floor_changed", payload: { floor: { mode: true, holder_id: "p_cleo", ends_at: null } } });
    expect(spotlighted(state)).toBeNull();
    state = reduce(state, {
      type: "settings_changed",
      payload: { settings: { ...DEFAULT_SETTINGS, spotlight_follows_floor: true } },
    });
    expect(spotlighted(state)).toBe("p_cleo");
    state = reduce(state, { type: "spotlight_changed", payload: { participant_id: "p_fay" } });
    expect(spotlighted(state)).toBe("p_fay");
  });

  it("goes out when its person leaves", () => {
    let state = inRoom(ANNA, { spotlight_id: "p_ben" });
    state = reduce(state, { type: "participant_left", payload: { participant_id: "p_ben", reason: "left" } });
    expect(spotlighted(state)).toBeNull();
  });
});

describe("announcements", () => {
  const said = (state: RoomState) => state.announcement?.text ?? null;

  it("says who asks you to unmute, and when the facilitator turns your camera off", () => {
    let state = inRoom(ANNA);
    state = reduce(state, {
      type: "media_changed",
      payload: { participant_id: "p_anna", microphone: { on: false, held: true }, camera: { on: true, held: false }, by: "p_fay" },
    });
    expect(said(state)).toBeNull(); // the hearing line, a live region, says "The facilitator muted you"
    state = reduce(state, {
      type: "media_changed",
      payload: { participant_id: "p_anna", microphone: { on: false, held: true }, camera: { on: false, held: true }, by: "p_fay" },
    });
    expect(said(state)).toBe("The facilitator turned your camera off.");
    state = reduce(state, { type: "unmute_requested", payload: { participant_id: "p_anna", device: "microphone", by: "p_fay" } });
    expect(said(state)).toBe("Fay asked you to unmute.");
  });

  it("says your turn and you're next, once each", () => {
    let state = inRoom(ANNA);
    const first = state.announcement?.seq ?? 0;
    state = reduce(state, { type: "round_changed", payload: { round: round({ current_id: "p_ben", next_id: "p_anna" }) } });
    expect(said(state)).toBe("You're next.");
    const seq = state.announcement?.seq;
    expect(seq).toBe(first + 1);
    state = reduce(state, { type: "speaking_changed", payload: { participant_id: "p_ben", speaking: true } });
    expect(state.announcement?.seq).toBe(seq); // nothing new to say
    state = reduce(state, { type: "round_changed", payload: { round: round({ current_id: "p_anna", next_id: "p_cleo" }) } });
    expect(said(state)).toBe("Your turn.");
  });

  it("reads other people's chat messages", () => {
    let state = inRoom(ANNA);
    state = reduce(state, {
      type: "chat_message",
      payload: { message: { message_id: 1, sender_id: "p_ben", text: "Hello", to_facilitators: false, sent_at: 1 } },
    });
    expect(said(state)).toBe("Ben: Hello");
    state = reduce(state, {
      type: "chat_message",
      payload: { message: { message_id: 2, sender_id: "p_anna", text: "Hi", to_facilitators: false, sent_at: 2 } },
    });
    expect(said(state)).toBe("Ben: Hello"); // not your own
  });
});

describe("screen sharing", () => {
  it("lets facilitators share, and members once allowed", () => {
    expect(mayShareScreen(inRoom(FAY))).toBe(true);
    let state = inRoom(ANNA);
    expect(mayShareScreen(state)).toBe(false);
    state = reduce(state, { type: "screen_share_permission_changed", payload: { participant_id: "p_anna", allowed: true } });
    expect(mayShareScreen(state)).toBe(true);
    expect(state.notice).toBe("The facilitator lets you share your screen.");
  });

  it("follows who shares, and says when a facilitator stopped yours", () => {
    let state = inRoom(ANNA, { screen_share_allowed: ["p_anna"] });
    state = reduce(state, { type: "screen_share_changed", payload: { participant_id: "p_anna", stopped_by: null } });
    expect(state.screenSharerId).toBe("p_anna");
    state = reduce(state, { type: "screen_share_changed", payload: { participant_id: null, stopped_by: "p_fay" } });
    expect(state.screenSharerId).toBeNull();
    expect(state.notice).toBe("The facilitator stopped your screen share.");
  });

  it("ends the share when the sharer leaves", () => {
    let state = inRoom(ANNA, { screen_sharer_id: "p_ben" });
    state = reduce(state, { type: "participant_left", payload: { participant_id: "p_ben", reason: "left" } });
    expect(state.screenSharerId).toBeNull();
  });
});

describe("side rooms", () => {
  const aside = { side_room_id: "side-1", participant_ids: ["p_fay", "p_anna"], ends_at: null };

  it("shows those aside only each other, and the main room only itself", () => {
    let state = reduce(inRoom(ANNA), { type: "side_rooms_changed", payload: { side_rooms: [aside] } });
    expect(companions(state).map((p) => p.display_name)).toEqual(["Fay"]);
    expect(state.announcement?.text).toBe("You are now in a side room with Fay.");
    const ben = reduce(inRoom(BEN), { type: "side_rooms_changed", payload: { side_rooms: [aside] } });
    expect(companions(ben).map((p) => p.display_name)).toEqual(["Cleo"]);
    state = reduce(state, { type: "side_rooms_changed", payload: { side_rooms: [] } });
    expect(state.announcement?.text).toBe("You are back with the group.");
    expect(companions(state)).toHaveLength(3);
  });
});

describe("video forwarding (simulcast)", () => {
  const inRoom = (): RoomState =>
    run([{ type: "joined", snapshot: snapshot(ANNA, { participants: [FAY, ANNA, BEN] }) }]);

  it("keeps the server's whole picture of what we receive, and says why a video is paused", () => {
    const state = reduce(inRoom(), {
      type: "video_forwarding",
      payload: {
        videos: [
          { participant_id: "p_fay", layer: "f", paused: null },
          { participant_id: "p_ben", layer: null, paused: "bandwidth" },
        ],
      },
    });
    expect(state.videoForwarding.p_fay.layer).toBe("f");
    expect(videoPause(state, "p_fay")).toBeNull();
    expect(videoPause(state, "p_ben")).toBe("bandwidth");
    // Each report is the whole picture: Ben is no longer paused when the next omits him.
    const next = reduce(state, {
      type: "video_forwarding",
      payload: { videos: [{ participant_id: "p_fay", layer: "q", paused: "hidden" }] },
    });
    expect(videoPause(next, "p_ben")).toBeNull();
    expect(videoPause(next, "p_fay")).toBe("hidden");
  });

  it("says nothing is paused of a camera that is off: the tile says the camera is off", () => {
    const state = run(
      [
        {
          type: "video_forwarding",
          payload: { videos: [{ participant_id: "p_ben", layer: null, paused: "bandwidth" }] },
        },
        {
          type: "media_changed",
          payload: {
            participant_id: "p_ben",
            microphone: { on: true, held: false },
            camera: { on: false, held: false },
            by: null,
          },
        },
      ],
      inRoom(),
    );
    expect(videoPause(state, "p_ben")).toBeNull();
  });

  it("forgets it when our media stops (a recovery or a rejoin starts afresh)", () => {
    const paused = reduce(inRoom(), {
      type: "video_forwarding",
      payload: { videos: [{ participant_id: "p_ben", layer: null, paused: "bandwidth" }] },
    });
    const stopped = reduce(paused, { type: "media_stopped" });
    expect(stopped.videoForwarding).toEqual({});
    expect(reduce(stopped, { type: "media_stopped" })).toBe(stopped);
  });

  it("leaves the room state alone for our own publish layers", () => {
    const state = inRoom();
    expect(reduce(state, { type: "publish_layers", payload: { active: { q: true, h: false, f: false } } })).toBe(state);
  });
});
