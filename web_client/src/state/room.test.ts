import { describe, expect, it } from "vitest";
import type { ParticipantView, RoomSnapshot } from "../protocol/types";
import {
  DEFAULT_SETTINGS,
  initialState,
  mayTurnOn,
  mutedByFacilitator,
  needsGroundRules,
  others,
  reduce,
  RoomStore,
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

  it("a rejoin refused because the session ended shows the end, not an error", () => {
    const state = run([
      { type: "joined", snapshot: snapshot(ANNA) },
      { type: "join_refused", code: "room_ended", message: "this session has ended" },
    ]);
    expect(state.phase).toBe("ended");
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
    const store = new RoomStore(initialState(true));
    const seen: string[] = [];
    store.subscribe((s) => seen.push(s.phase));
    store.dispatch({ type: "notice_dismissed" });
    store.dispatch({ type: "join_sent" });
    expect(seen).toEqual(["joining"]);
  });
});
