// The operator page's state: the latest pushed snapshot, the connection, the view
// (sort and filters) and rooms being ended. It changes only in `reduce`; the UI reads it
// through the selectors below. The server is the authority on every figure, rating and
// alert: nothing here rates or raises anything, it only orders, filters and remembers
// which alerts the server has just cleared.

import { Store } from "../state/store";
import type { AlertView, MonitorSnapshot, ParticipantHealth, Rating, Refusal, RoomDetail } from "./types";

export type Connection =
  | { status: "no_token" }
  | { status: "connecting" }
  | { status: "live" }
  | { status: "reconnecting"; reason?: string }
  | { status: "refused"; refusal: Refusal };

export type SortKey = "attention" | "participants" | "rating" | "started" | "room";

export interface ViewOptions {
  sort: SortKey;
  /** Most (or worst, or newest, or last) first. */
  descending: boolean;
  /** Matched, case-insensitively, against the room's and its participants' ids. */
  text: string;
  onlyAlerts: boolean;
  onlyPoor: boolean;
}

export interface ClearedAlert extends AlertView {
  /** Server time (seconds) of the first snapshot without it. */
  cleared_at: number;
}

export type Ending =
  | { status: "sending"; reason: string }
  | { status: "ended"; reason: string }
  | { status: "failed"; reason: string; message: string };

export interface OperatorState {
  connection: Connection;
  snapshot: MonitorSnapshot | null;
  /** Client clock (ms) when the latest snapshot arrived: how stale the page is. */
  receivedAt: number | null;
  /** Alerts the server cleared lately, newest first. */
  cleared: ClearedAlert[];
  view: ViewOptions;
  endings: Record<string, Ending>;
}

export type Action =
  | { type: "connecting" }
  | { type: "connected" }
  | { type: "disconnected"; reason?: string }
  | { type: "refused"; refusal: Refusal }
  | { type: "snapshot"; snapshot: MonitorSnapshot; receivedAt: number }
  | { type: "view"; patch: Partial<ViewOptions> }
  | { type: "sort"; key: SortKey }
  | { type: "end_sending"; roomRef: string; reason: string }
  | { type: "end_done"; roomRef: string }
  | { type: "end_failed"; roomRef: string; message: string };

/** How long, in server seconds, a cleared alert stays listed as cleared. */
export const CLEARED_KEEP_S = 300;
export const CLEARED_MAX = 8;

export const DEFAULT_VIEW: ViewOptions = {
  sort: "attention",
  descending: true,
  text: "",
  onlyAlerts: false,
  onlyPoor: false,
};

export function initialState(hasToken: boolean): OperatorState {
  return {
    connection: hasToken ? { status: "connecting" } : { status: "no_token" },
    snapshot: null,
    receivedAt: null,
    cleared: [],
    view: DEFAULT_VIEW,
    endings: {},
  };
}

export function alertKey(alert: AlertView): string {
  return `${alert.kind}|${alert.room_ref ?? ""}|${alert.participant_ref ?? ""}`;
}

export function reduce(state: OperatorState, action: Action): OperatorState {
  switch (action.type) {
    case "connecting":
      return { ...state, connection: { status: "connecting" } };
    case "connected":
      return { ...state, connection: { status: "live" } };
    case "disconnected":
      // A refusal is final: a later transport close does not make it "reconnecting".
      if (state.connection.status === "refused") return state;
      return { ...state, connection: { status: "reconnecting", reason: action.reason } };
    case "refused":
      return { ...state, connection: { status: "refused", refusal: action.refusal } };
    case "snapshot":
      return applySnapshot(state, action.snapshot, action.receivedAt);
    case "view":
      return { ...state, view: { ...state.view, ...action.patch } };
    case "sort": {
      // Choosing the current order again reverses it.
      const same = state.view.sort === action.key;
      const descending = same ? !state.view.descending : defaultDescending(action.key);
      return { ...state, view: { ...state.view, sort: action.key, descending } };
    }
    case "end_sending":
      return withEnding(state, action.roomRef, { status: "sending", reason: action.reason });
    case "end_done": {
      const reason = state.endings[action.roomRef]?.reason ?? "";
      return withEnding(state, action.roomRef, { status: "ended", reason });
    }
    case "end_failed": {
      const reason = state.endings[action.roomRef]?.reason ?? "";
      return withEnding(state, action.roomRef, { status: "failed", reason, message: action.message });
    }
  }
}

function withEnding(state: OperatorState, roomRef: string, ending: Ending): OperatorState {
  return { ...state, endings: { ...state.endings, [roomRef]: ending } };
}

/** The natural first direction of each order: most people, worst rating, newest, a→z. */
export function defaultDescending(key: SortKey): boolean {
  return key !== "room";
}

function applySnapshot(state: OperatorState, snapshot: MonitorSnapshot, receivedAt: number): OperatorState {
  const active = new Set(snapshot.alerts.map(alertKey));
  const previous = state.snapshot?.alerts ?? [];
  const justCleared: ClearedAlert[] = previous
    .filter((alert) => !active.has(alertKey(alert)))
    .map((alert) => ({ ...alert, cleared_at: snapshot.at }));
  const justClearedKeys = new Set(justCleared.map(alertKey));
  const cleared = [
    ...justCleared,
    // An alert raised again is active, not cleared; an older clearing of the same is replaced.
    ...state.cleared.filter((c) => !active.has(alertKey(c)) && !justClearedKeys.has(alertKey(c))),
  ]
    .filter((c) => snapshot.at - c.cleared_at <= CLEARED_KEEP_S)
    .slice(0, CLEARED_MAX);
  return {
    ...state,
    // A push is proof of a live channel, whatever event ordering the socket produced.
    connection: state.connection.status === "refused" ? state.connection : { status: "live" },
    snapshot,
    receivedAt,
    cleared,
  };
}

// -- selectors -------------------------------------------------------------------

const RANK: Record<Rating, number> = { good: 1, fair: 2, poor: 3 };

export function ratingRank(rating: Rating | null | undefined): number {
  return rating == null ? 0 : RANK[rating];
}

/** The worst rating in a room: its own and each participant's (null: none known yet). */
export function worstRating(room: RoomDetail): Rating | null {
  let worst: Rating | null = room.rating;
  for (const person of room.people) {
    if (ratingRank(person.rating) > ratingRank(worst)) worst = person.rating;
  }
  return worst;
}

export function alertsForRoom(alerts: readonly AlertView[], roomRef: string): AlertView[] {
  return alerts.filter((alert) => alert.room_ref === roomRef);
}

/** Alerts about the server itself (no room). */
export function serverAlerts(alerts: readonly AlertView[]): AlertView[] {
  return alerts.filter((alert) => alert.room_ref === null);
}

export function hasPoorConnection(room: RoomDetail): boolean {
  return room.rating === "poor" || room.people.some((p) => p.rating === "poor");
}

function matchesText(room: RoomDetail, text: string): boolean {
  const needle = text.trim().toLowerCase();
  if (needle === "") return true;
  return (
    room.room_ref.toLowerCase().includes(needle) ||
    room.people.some((p) => p.participant_ref.toLowerCase().includes(needle))
  );
}

/** The rooms to show, filtered and in the chosen order. */
export function visibleRooms(state: OperatorState): RoomDetail[] {
  const snapshot = state.snapshot;
  if (snapshot === null) return [];
  const { view } = state;
  const alerting = new Set(snapshot.alerts.map((a) => a.room_ref));
  const rooms = snapshot.rooms.filter(
    (room) =>
      matchesText(room, view.text) &&
      (!view.onlyAlerts || alerting.has(room.room_ref)) &&
      (!view.onlyPoor || hasPoorConnection(room)),
  );
  const alertCount = (room: RoomDetail) => alertsForRoom(snapshot.alerts, room.room_ref).length;
  const measure: Record<SortKey, (room: RoomDetail) => number | string> = {
    attention: (room) => alertCount(room) * 10 + ratingRank(worstRating(room)),
    participants: (room) => room.participants,
    rating: (room) => ratingRank(worstRating(room)),
    started: (room) => room.started_at ?? -Infinity,
    room: (room) => room.room_ref,
  };
  const key = measure[view.sort];
  const direction = view.descending ? -1 : 1;
  return [...rooms].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    if (ka < kb) return -direction;
    if (ka > kb) return direction;
    return a.room_ref < b.room_ref ? -1 : a.room_ref > b.room_ref ? 1 : 0; // stable, by id
  });
}

/** The participants to list in a room: all, or with "only poor connections" the poor ones. */
export function visiblePeople(room: RoomDetail, view: ViewOptions): ParticipantHealth[] {
  return view.onlyPoor ? room.people.filter((p) => p.rating === "poor") : room.people;
}

/** Seconds since the latest push arrived (client clock), or null before the first. */
export function secondsSinceUpdate(state: OperatorState, nowMs: number): number | null {
  return state.receivedAt === null ? null : Math.max(0, (nowMs - state.receivedAt) / 1000);
}

export type OperatorStore = Store<OperatorState, Action>;

export function createOperatorStore(hasToken: boolean): OperatorStore {
  return new Store(reduce, initialState(hasToken));
}
