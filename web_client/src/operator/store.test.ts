import { describe, expect, it } from "vitest";
import {
  alertsForRoom,
  CLEARED_KEEP_S,
  hasPoorConnection,
  initialState,
  createOperatorStore,
  reduce,
  secondsSinceUpdate,
  serverAlerts,
  visiblePeople,
  visibleRooms,
  worstRating,
  type Action,
  type OperatorState,
} from "./store";
import type { AlertView, MonitorSnapshot, ParticipantHealth, RoomDetail } from "./types";

function peer(ref: string, extra: Partial<ParticipantHealth> = {}): ParticipantHealth {
  return {
    participant_ref: ref,
    role: "member",
    state: "admitted",
    rating: "good",
    rtt_ms: 20,
    jitter_ms: 3,
    loss_up_pct: 0,
    loss_down_pct: 0,
    bitrate_up_kbps: 300,
    bitrate_down_kbps: 600,
    candidate_type: "host",
    media_budget_exceeded: false,
    ...extra,
  };
}

function room(ref: string, extra: Partial<RoomDetail> = {}): RoomDetail {
  return {
    room_ref: ref,
    started_at: 1000,
    scheduled_end: null,
    participants: 2,
    waiting: 0,
    facilitator_present: true,
    rating: "good",
    bitrate_up_kbps: 600,
    bitrate_down_kbps: 1200,
    loss_pct: 0,
    people: [peer(`peer_${ref}_a`), peer(`peer_${ref}_b`)],
    history: [],
    ...extra,
  };
}

function alert(kind: AlertView["kind"], roomRef: string | null, since = 1990, peerRef: string | null = null): AlertView {
  return { kind, room_ref: roomRef, participant_ref: peerRef, since, message: "m" };
}

function snapshot(at: number, rooms: RoomDetail[], alerts: AlertView[] = []): MonitorSnapshot {
  return {
    at,
    server: {
      cpu_ratio: 0.1,
      memory_bytes: 100 * 1024 * 1024,
      event_loop_lag_ms: 1,
      forwarded_packets_per_s: 500,
      consumers: 4,
      rooms: rooms.length,
      participants: rooms.reduce((n, r) => n + r.participants, 0),
    },
    rooms,
    alerts,
  };
}

function run(actions: Action[], start: OperatorState = initialState(true)): OperatorState {
  return actions.reduce(reduce, start);
}

const push = (s: MonitorSnapshot, receivedAt = s.at * 1000): Action => ({ type: "snapshot", snapshot: s, receivedAt });

// Three rooms that order differently by each key.
const A = room("room_aaa", { participants: 5, started_at: 1000, rating: "good" });
const B = room("room_bbb", {
  participants: 2,
  started_at: 3000,
  rating: "fair",
  people: [peer("peer_b1", { rating: "poor", loss_up_pct: 9 }), peer("peer_b2")],
});
const C = room("room_ccc", { participants: 3, started_at: 2000, rating: "fair" });

describe("connection", () => {
  it("starts connecting with a token, and says so without one", () => {
    expect(initialState(true).connection.status).toBe("connecting");
    expect(initialState(false).connection.status).toBe("no_token");
  });

  it("goes live, reconnecting, live again", () => {
    const s = run([{ type: "connected" }, { type: "disconnected", reason: "transport close" }]);
    expect(s.connection).toEqual({ status: "reconnecting", reason: "transport close" });
    expect(reduce(s, { type: "connected" }).connection.status).toBe("live");
  });

  it("keeps a refusal final: a later close does not turn it into reconnecting", () => {
    const refusal = { code: "invalid_token", message: "the token is not valid for this server" };
    const s = run([{ type: "refused", refusal }, { type: "disconnected", reason: "io client disconnect" }]);
    expect(s.connection).toEqual({ status: "refused", refusal });
  });

  it("counts staleness from the latest push", () => {
    const s = run([{ type: "connected" }, push(snapshot(2000, [A]), 50_000)]);
    expect(secondsSinceUpdate(s, 53_500)).toBe(3.5);
    expect(secondsSinceUpdate(initialState(true), 53_500)).toBeNull();
  });
});

describe("applying a snapshot", () => {
  it("replaces rooms, server and alerts wholesale", () => {
    const first = run([push(snapshot(2000, [A, B], [alert("facilitator_disconnected", "room_bbb")]))]);
    const second = reduce(first, push(snapshot(2001, [C])));
    expect(second.snapshot?.rooms.map((r) => r.room_ref)).toEqual(["room_ccc"]);
    expect(second.snapshot?.alerts).toEqual([]);
    expect(second.receivedAt).toBe(2_001_000);
  });

  it("is proof of a live channel", () => {
    const s = run([{ type: "disconnected" }, push(snapshot(2000, [A]))]);
    expect(s.connection.status).toBe("live");
  });
});

describe("alert clearing", () => {
  const gone = alert("facilitator_disconnected", "room_aaa", 1990);
  const cpu = alert("server_cpu", null, 1995);

  it("lists an alert as cleared when the server stops sending it", () => {
    const s = run([push(snapshot(2000, [A], [gone, cpu])), push(snapshot(2001, [A], [cpu]))]);
    expect(s.snapshot?.alerts).toEqual([cpu]);
    expect(s.cleared).toEqual([{ ...gone, cleared_at: 2001 }]);
  });

  it("drops it from the cleared list when it is raised again", () => {
    const raisedAgain = { ...gone, since: 2002 };
    const s = run([
      push(snapshot(2000, [A], [gone])),
      push(snapshot(2001, [A], [])),
      push(snapshot(2002, [A], [raisedAgain])),
    ]);
    expect(s.snapshot?.alerts).toEqual([raisedAgain]);
    expect(s.cleared).toEqual([]);
  });

  it("forgets cleared alerts after a while, newest first", () => {
    const s = run([
      push(snapshot(2000, [A], [gone, cpu])),
      push(snapshot(2001, [A], [cpu])),
      push(snapshot(2010, [A], [])),
    ]);
    expect(s.cleared.map((c) => c.kind)).toEqual(["server_cpu", "facilitator_disconnected"]);
    const later = reduce(s, push(snapshot(2005 + CLEARED_KEEP_S, [A], [])));
    expect(later.cleared.map((c) => c.kind)).toEqual(["server_cpu"]);
  });

  it("tells rooms' alerts from the server's", () => {
    const alerts = [gone, cpu, alert("poor_connection", "room_bbb", 1990, "peer_b1")];
    expect(alertsForRoom(alerts, "room_aaa")).toEqual([gone]);
    expect(serverAlerts(alerts)).toEqual([cpu]);
  });
});

describe("ratings", () => {
  it("takes the worst of the room's and its participants'", () => {
    expect(worstRating(A)).toBe("good");
    expect(worstRating(B)).toBe("poor");
    expect(worstRating(room("room_x", { rating: null, people: [peer("p", { rating: null })] }))).toBeNull();
    expect(hasPoorConnection(B)).toBe(true);
    expect(hasPoorConnection(C)).toBe(false);
  });
});

describe("sorting", () => {
  const base = run([push(snapshot(4000, [A, B, C], [alert("facilitator_disconnected", "room_ccc")]))]);
  const order = (s: OperatorState) => visibleRooms(s).map((r) => r.room_ref);

  it("puts rooms needing attention first by default: alerts, then worst rating", () => {
    expect(order(base)).toEqual(["room_ccc", "room_bbb", "room_aaa"]);
  });

  it("sorts by participants, most first, and reverses on a second click", () => {
    const s = reduce(base, { type: "sort", key: "participants" });
    expect(order(s)).toEqual(["room_aaa", "room_ccc", "room_bbb"]);
    expect(order(reduce(s, { type: "sort", key: "participants" }))).toEqual(["room_bbb", "room_ccc", "room_aaa"]);
  });

  it("sorts by worst rating, ties by id", () => {
    expect(order(reduce(base, { type: "sort", key: "rating" }))).toEqual(["room_bbb", "room_ccc", "room_aaa"]);
  });

  it("sorts by start, newest first", () => {
    expect(order(reduce(base, { type: "sort", key: "started" }))).toEqual(["room_bbb", "room_ccc", "room_aaa"]);
  });

  it("sorts by id, a to z", () => {
    expect(order(reduce(base, { type: "sort", key: "room" }))).toEqual(["room_aaa", "room_bbb", "room_ccc"]);
  });

  it("does not reorder the snapshot itself", () => {
    visibleRooms(reduce(base, { type: "sort", key: "room" }));
    expect(base.snapshot?.rooms.map((r) => r.room_ref)).toEqual(["room_aaa", "room_bbb", "room_ccc"]);
  });
});

describe("filtering", () => {
  const base = run([push(snapshot(4000, [A, B, C], [alert("facilitator_disconnected", "room_ccc")]))]);
  const with_ = (patch: Partial<OperatorState["view"]>) =>
    visibleRooms(reduce(base, { type: "view", patch })).map((r) => r.room_ref).sort();

  it("matches text on room and participant ids, case-insensitively", () => {
    expect(with_({ text: "BBB" })).toEqual(["room_bbb"]);
    expect(with_({ text: " peer_room_ccc_a " })).toEqual(["room_ccc"]);
    expect(with_({ text: "nothing" })).toEqual([]);
    expect(with_({ text: "" })).toEqual(["room_aaa", "room_bbb", "room_ccc"]);
  });

  it("keeps only rooms with alerts", () => {
    expect(with_({ onlyAlerts: true })).toEqual(["room_ccc"]);
  });

  it("keeps only rooms with poor connections, and only their poor rows", () => {
    const s = reduce(base, { type: "view", patch: { onlyPoor: true } });
    expect(visibleRooms(s).map((r) => r.room_ref)).toEqual(["room_bbb"]);
    expect(visiblePeople(B, s.view).map((p) => p.participant_ref)).toEqual(["peer_b1"]);
    expect(visiblePeople(B, base.view)).toHaveLength(2);
  });

  it("combines filters", () => {
    expect(with_({ onlyAlerts: true, onlyPoor: true })).toEqual([]);
  });

  it("shows nothing before the first snapshot", () => {
    expect(visibleRooms(initialState(true))).toEqual([]);
  });
});

describe("ending a room", () => {
  it("tracks sending, then done or failed, keeping the reason", () => {
    const sending = run([{ type: "end_sending", roomRef: "room_aaa", reason: "runaway room" }]);
    expect(sending.endings.room_aaa).toEqual({ status: "sending", reason: "runaway room" });
    expect(reduce(sending, { type: "end_done", roomRef: "room_aaa" }).endings.room_aaa).toEqual({
      status: "ended",
      reason: "runaway room",
    });
    expect(reduce(sending, { type: "end_failed", roomRef: "room_aaa", message: "no live room" }).endings.room_aaa).toEqual({
      status: "failed",
      reason: "runaway room",
      message: "no live room",
    });
  });
});

describe("OperatorStore", () => {
  it("notifies on change only", () => {
    const store = createOperatorStore(true);
    const seen: string[] = [];
    store.subscribe((s) => seen.push(s.connection.status));
    store.dispatch({ type: "connected" });
    store.dispatch({ type: "refused", refusal: { code: "token_expired", message: "" } });
    store.dispatch({ type: "disconnected" }); // no change after a refusal
    expect(seen).toEqual(["live", "refused"]);
  });
});
