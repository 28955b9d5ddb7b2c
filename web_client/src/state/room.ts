// The room as this browser knows it: one state, changed only by `reduce`, fed by the
// server's acks and events. Nothing here assumes a command worked; an action is
// dispatched when the ack or the event says so.

import {
  facilitates,
  type ChatMessage,
  type Device,
  type FloorView,
  type ParticipantView,
  type RoomSettings,
  type RoomSnapshot,
  type RoundView,
  type Schedule,
  type TalkBalance,
  type ServerEventName,
  type ServerEvents,
} from "../protocol/types";
import { Store } from "./store";

export type Phase =
  | "no_link" // opened without a join link
  | "device_check" // before joining: preview, meter, device choice
  | "joining" // join sent, no ack yet
  | "refused" // join refused (expired link, locked room, ...)
  | "waiting" // in the waiting room
  | "in_room"
  | "left" // we left
  | "removed" // a facilitator removed us
  | "denied" // a facilitator did not let us in
  | "ended" // the session ended
  | "superseded"; // the same link was opened elsewhere

export type ConnectionStatus = "offline" | "connected" | "reconnecting";

export interface ChatEntry extends ChatMessage {
  sender_name: string;
}

export interface RoomState {
  phase: Phase;
  connection: ConnectionStatus;
  /** While reconnecting: how many times we have tried to reach the server again. */
  reconnectAttempts: number;
  error: { code: string; message: string } | null;
  roomId: string;
  title: string;
  groundRules: string;
  settings: RoomSettings;
  me: ParticipantView | null;
  /** Admitted participants, you included, in the server's order. */
  participants: ParticipantView[];
  /** Who waits (facilitators only). */
  waiting: ParticipantView[];
  handQueue: string[];
  speaking: Record<string, boolean>;
  chat: ChatEntry[];
  /** A facilitator asked us to switch this device on and we have not answered. */
  unmuteRequest: Device | null;
  /** Who (a facilitator's id) last switched our microphone off, while it stays off. */
  microphoneOffBy: string | null;
  cameraOffBy: string | null;
  /** A short, passing message: a refused command, an answer to a request. */
  notice: string | null;
  endedReason: string | null;
  /** Who holds the floor, and whether floor mode is on. */
  floor: FloorView;
  /** The go-around that is running, or null. */
  round: RoundView | null;
  /** The current turn's 15-second warning (to the speaker and the facilitators). */
  turnWarning: { participant_id: string; seconds_left: number } | null;
  /** Facilitators only; live only for the session. */
  talkBalance: TalkBalance | null;
  schedule: Schedule;
  /** Facilitators only: the session's scheduled end is near (0: it has passed). */
  clockWarning: { minutes_left: number; ends_at: number } | null;
}

export const NO_FLOOR: FloorView = { mode: false, holder_id: null, ends_at: null };
export const NO_SCHEDULE: Schedule = { starts_at: null, ends_at: null, hard_end: false, late_cutoff_at: null };

export const DEFAULT_SETTINGS: RoomSettings = {
  locked: false,
  auto_admit: false,
  self_unmute_allowed: false,
  chat_enabled: true,
  capacity: 16,
};

export function initialState(hasLink: boolean): RoomState {
  return {
    phase: hasLink ? "device_check" : "no_link",
    connection: "offline",
    reconnectAttempts: 0,
    error: null,
    roomId: "",
    title: "",
    groundRules: "",
    settings: DEFAULT_SETTINGS,
    me: null,
    participants: [],
    waiting: [],
    handQueue: [],
    speaking: {},
    chat: [],
    unmuteRequest: null,
    microphoneOffBy: null,
    cameraOffBy: null,
    notice: null,
    endedReason: null,
    floor: NO_FLOOR,
    round: null,
    turnWarning: null,
    talkBalance: null,
    schedule: NO_SCHEDULE,
    clockWarning: null,
  };
}

type ServerAction = {
  [K in ServerEventName]: { type: K; payload: ServerEvents[K] };
}[ServerEventName];

export type Action =
  | ServerAction
  | { type: "join_sent" }
  | { type: "joined"; snapshot: RoomSnapshot }
  | { type: "join_refused"; code: string; message: string }
  | { type: "ground_rules_accepted" }
  | { type: "unmute_request_answered_by_me" }
  | { type: "left_room" }
  | { type: "connection"; status: ConnectionStatus; attempt?: number }
  | { type: "notice"; text: string }
  | { type: "notice_dismissed" }
  | { type: "clock_warning_dismissed" };

const FINAL_PHASES: readonly Phase[] = ["left", "removed", "denied", "ended", "superseded"];

export function isFinal(phase: Phase): boolean {
  return FINAL_PHASES.includes(phase);
}

export function reduce(state: RoomState, action: Action): RoomState {
  // Once we are out, late events of the old session change nothing.
  if (isFinal(state.phase) && action.type !== "notice_dismissed" && action.type !== "connection") {
    return state;
  }
  switch (action.type) {
    case "join_sent":
      return { ...state, phase: state.me === null ? "joining" : state.phase, error: null };
    case "joined":
    case "room_snapshot":
      return fromSnapshot(state, action.type === "joined" ? action.snapshot : action.payload);
    case "join_refused":
      // Refused on a rejoin too (after a reconnect): there is no way back in.
      if (action.code === "room_ended" && state.me !== null) {
        return { ...state, phase: "ended", endedReason: "ended" };
      }
      return { ...state, phase: "refused", error: { code: action.code, message: action.message } };
    case "ground_rules_accepted":
      return state.me === null ? state : { ...state, me: { ...state.me, accepted_ground_rules: true } };
    case "unmute_request_answered_by_me":
      return { ...state, unmuteRequest: null };
    case "left_room":
      return { ...state, phase: "left", unmuteRequest: null };
    case "connection": {
      const reconnectAttempts =
        action.status === "connected" ? 0 : Math.max(state.reconnectAttempts, action.attempt ?? 0);
      if (state.connection === action.status && state.reconnectAttempts === reconnectAttempts) return state;
      return { ...state, connection: action.status, reconnectAttempts };
    }
    case "notice":
      return { ...state, notice: action.text };
    case "notice_dismissed":
      return state.notice === null ? state : { ...state, notice: null };
    case "clock_warning_dismissed":
      return state.clockWarning === null ? state : { ...state, clockWarning: null };

    case "participant_waiting":
      return { ...state, waiting: upsert(state.waiting, action.payload.participant) };
    case "participant_admitted": {
      const participant = action.payload.participant;
      return {
        ...state,
        participants: upsert(state.participants, participant),
        waiting: without(state.waiting, participant.participant_id),
      };
    }
    case "participant_left":
      return participantLeft(state, action.payload);
    case "participant_reconnecting": {
      const { participant_id, reconnecting } = action.payload;
      // About us: an old connection's drop; we are here, and the snapshot says so.
      if (participant_id === state.me?.participant_id) return state;
      const mark = (p: ParticipantView): ParticipantView =>
        p.participant_id === participant_id ? { ...p, reconnecting } : p;
      return { ...state, participants: state.participants.map(mark), waiting: state.waiting.map(mark) };
    }
    case "media_changed":
      return mediaChanged(state, action.payload);
    case "unmute_requested": {
      const { participant_id, device } = action.payload;
      if (participant_id !== state.me?.participant_id) return state;
      return { ...state, unmuteRequest: device };
    }
    case "unmute_request_answered": {
      const { participant_id, device, accepted } = action.payload;
      if (participant_id === state.me?.participant_id) return { ...state, unmuteRequest: null };
      const name = nameOf(state, participant_id);
      const what = device === "microphone" ? "microphone" : "camera";
      const text = accepted
        ? `${name} turned their ${what} on.`
        : `${name} would rather keep their ${what} off for now.`;
      return { ...state, notice: text };
    }
    case "settings_changed":
      return { ...state, settings: action.payload.settings };
    case "hand_queue_changed":
      return withHandQueue(state, action.payload.queue);
    case "chat_message": {
      const message = action.payload.message;
      if (state.chat.some((m) => m.message_id === message.message_id)) return state;
      const entry: ChatEntry = { ...message, sender_name: nameOf(state, message.sender_id) };
      return { ...state, chat: [...state.chat, entry] };
    }
    case "session_ended":
      // The talk-time balance is live only for the session: nothing of it stays.
      return {
        ...state,
        phase: "ended",
        endedReason: action.payload.reason,
        unmuteRequest: null,
        talkBalance: null,
        clockWarning: null,
        turnWarning: null,
        round: null,
        floor: NO_FLOOR,
      };
    case "speaking_changed": {
      const { participant_id, speaking } = action.payload;
      if (Boolean(state.speaking[participant_id]) === speaking) return state;
      return { ...state, speaking: { ...state.speaking, [participant_id]: speaking } };
    }
    case "floor_changed":
      return { ...state, floor: action.payload.floor };
    case "round_changed":
      return roundChanged(state, action.payload.round);
    case "turn_warning":
      return { ...state, turnWarning: action.payload };
    case "talk_time_changed":
      return isFacilitator(state) ? { ...state, talkBalance: action.payload.balance } : state;
    case "schedule_changed":
      return { ...state, schedule: action.payload.schedule, clockWarning: null };
    case "session_clock_warning":
      return { ...state, clockWarning: action.payload };
    case "ground_rules_changed":
      return groundRulesChanged(state, action.payload.ground_rules);
    case "superseded":
      return { ...state, phase: "superseded" };
    case "subscriber_offer":
    case "media_failed":
      return state; // media, not room state
    case "seat_taken_over":
      return { ...state, notice: `${nameOf(state, action.payload.participant_id)}'s link was opened in another place.` };
  }
}

function fromSnapshot(state: RoomState, snapshot: RoomSnapshot): RoomState {
  if (snapshot.ended) return { ...state, phase: "ended", endedReason: "ended" };
  const me = snapshot.you;
  const admitted = me.state === "admitted";
  const next: RoomState = {
    ...state,
    phase: admitted ? "in_room" : "waiting",
    error: null,
    roomId: snapshot.room_id,
    title: snapshot.title,
    groundRules: snapshot.ground_rules,
    settings: snapshot.settings,
    me,
    participants: snapshot.participants,
    waiting: snapshot.waiting,
    speaking: Object.fromEntries((snapshot.speaking ?? []).map((id) => [id, true])),
    floor: snapshot.floor ?? NO_FLOOR,
    round: snapshot.round ?? null,
    turnWarning: snapshot.round?.current_id === state.turnWarning?.participant_id ? state.turnWarning : null,
    schedule: snapshot.schedule ?? NO_SCHEDULE,
    talkBalance: snapshot.talk_balance ?? null,
    microphoneOffBy: me.microphone.on ? null : state.microphoneOffBy,
    cameraOffBy: me.camera.on ? null : state.cameraOffBy,
  };
  return withHandQueue(next, snapshot.hand_queue);
}

function roundChanged(state: RoomState, round: RoundView | null): RoomState {
  // A warning belongs to one turn: it goes when the turn does.
  const turnWarning =
    round !== null && state.turnWarning?.participant_id === round.current_id ? state.turnWarning : null;
  const ended = round === null && state.round !== null;
  return {
    ...state,
    round,
    turnWarning,
    notice: ended ? "The go-around has finished." : state.notice,
  };
}

function groundRulesChanged(state: RoomState, text: string): RoomState {
  const needConsent = text.trim() !== "";
  // Who waits agreed to other rules: they accept these before they come in (the server
  // resets their consent too). Facilitators never need to accept.
  const reset = (p: ParticipantView): ParticipantView =>
    needConsent && !facilitates(p.role) && p.accepted_ground_rules ? { ...p, accepted_ground_rules: false } : p;
  const me = state.me;
  const waitingMe = me !== null && me.state === "waiting";
  const inRoom = state.phase === "in_room" && me !== null && !facilitates(me.role);
  return {
    ...state,
    groundRules: text,
    me: waitingMe ? reset(me) : me,
    waiting: state.waiting.map(reset),
    notice: inRoom ? "The facilitator updated the ground rules." : state.notice,
  };
}

function participantLeft(
  state: RoomState,
  { participant_id, reason }: ServerEvents["participant_left"],
): RoomState {
  if (participant_id === state.me?.participant_id) {
    if (reason === "removed") return { ...state, phase: "removed", unmuteRequest: null };
    if (reason === "denied") return { ...state, phase: "denied", unmuteRequest: null };
    return state; // "left"/"disconnected" about us is an old connection; we are still here
  }
  const speaking = { ...state.speaking };
  delete speaking[participant_id];
  return {
    ...state,
    participants: without(state.participants, participant_id),
    waiting: without(state.waiting, participant_id),
    handQueue: state.handQueue.filter((id) => id !== participant_id),
    speaking,
  };
}

function mediaChanged(state: RoomState, change: ServerEvents["media_changed"]): RoomState {
  const { participant_id, microphone, camera, by } = change;
  const update = (p: ParticipantView): ParticipantView =>
    p.participant_id === participant_id ? { ...p, microphone, camera } : p;
  const next = { ...state, participants: state.participants.map(update) };
  if (state.me === null || state.me.participant_id !== participant_id) return next;
  const before = state.me;
  const offBy = (was: boolean, now: boolean, previous: string | null): string | null => {
    if (now) return null;
    if (was && by !== null) return by;
    return previous;
  };
  return {
    ...next,
    me: update(before),
    microphoneOffBy: offBy(before.microphone.on, microphone.on, state.microphoneOffBy),
    cameraOffBy: offBy(before.camera.on, camera.on, state.cameraOffBy),
    unmuteRequest: microphone.on && state.unmuteRequest === "microphone" ? null : state.unmuteRequest,
  };
}

function withHandQueue(state: RoomState, queue: string[]): RoomState {
  const raised = new Set(queue);
  const mark = (p: ParticipantView): ParticipantView =>
    p.hand_raised === raised.has(p.participant_id) ? p : { ...p, hand_raised: raised.has(p.participant_id) };
  return {
    ...state,
    handQueue: [...queue],
    participants: state.participants.map(mark),
    me: state.me === null ? null : mark(state.me),
  };
}

function upsert(list: ParticipantView[], participant: ParticipantView): ParticipantView[] {
  const index = list.findIndex((p) => p.participant_id === participant.participant_id);
  if (index === -1) return [...list, participant];
  const copy = [...list];
  copy[index] = participant;
  return copy;
}

function without(list: ParticipantView[], participantId: string): ParticipantView[] {
  return list.some((p) => p.participant_id === participantId)
    ? list.filter((p) => p.participant_id !== participantId)
    : list;
}

// -- selectors ------------------------------------------------------------------------

export function nameOf(state: RoomState, participantId: string): string {
  if (state.me?.participant_id === participantId) return state.me.display_name;
  const found =
    state.participants.find((p) => p.participant_id === participantId) ??
    state.waiting.find((p) => p.participant_id === participantId);
  return found?.display_name ?? "Someone who has left";
}

export function isFacilitator(state: RoomState): boolean {
  return state.me !== null && facilitates(state.me.role);
}

/** Mirrors rooms.Room.may_unmute_self: the server decides, this only greys the button. */
export function mayTurnOn(state: RoomState, device: Device): boolean {
  const me = state.me;
  if (me === null || me.role === "observer") return false;
  if (facilitates(me.role)) return true;
  return state.settings.self_unmute_allowed || !me[device].held;
}

/** Whether a facilitator switched our microphone off (and it is still off). */
export function mutedByFacilitator(state: RoomState): boolean {
  const me = state.me;
  if (me === null || me.microphone.on) return false;
  return me.microphone.held || state.microphoneOffBy !== null;
}

export function others(state: RoomState): ParticipantView[] {
  return state.participants.filter((p) => p.participant_id !== state.me?.participant_id);
}

export function needsGroundRules(state: RoomState): boolean {
  return state.groundRules.trim() !== "" && state.me !== null && !state.me.accepted_ground_rules;
}

// -- the floor, rounds and the clock ------------------------------------------------

/** In floor mode, and while a round runs, only the floor holder and facilitators are heard. */
export function floorRestricts(state: RoomState): boolean {
  return state.floor.mode || state.round !== null;
}

/** Who has the floor now: the round's current speaker, or whom a facilitator gave it to. */
export function floorHolder(state: RoomState): string | null {
  return state.round?.current_id ?? state.floor.holder_id;
}

/** Mirrors rooms.Room.may_be_heard for us: whether the server forwards our audio. */
export function floorLetsMeBeHeard(state: RoomState): boolean {
  const me = state.me;
  if (me === null) return false;
  return !floorRestricts(state) || facilitates(me.role) || floorHolder(state) === me.participant_id;
}

/** Whose turn it is in the go-around (null: no round, or it is between turns). */
export function whoseTurn(state: RoomState): string | null {
  return state.round?.current_id ?? null;
}

/** "You're next": the next speaker of the round, or (without a round) the first raised hand. */
export function youAreNext(state: RoomState): boolean {
  const me = state.me;
  if (me === null) return false;
  if (state.round !== null) return state.round.next_id === me.participant_id;
  return state.handQueue[0] === me.participant_id && state.floor.holder_id !== me.participant_id;
}

/** Whole seconds left until `endsAt` (Unix seconds) by the local clock; never negative. */
export function secondsLeft(endsAt: number | null, nowSeconds: number): number | null {
  if (endsAt === null) return null;
  return Math.max(0, Math.ceil(endsAt - nowSeconds));
}

/** Seconds left in the current turn, or null for an untimed turn (or no round). */
export function turnSecondsLeft(state: RoomState, nowSeconds: number): number | null {
  return secondsLeft(state.round?.turn_ends_at ?? null, nowSeconds);
}

/** Seconds until the session's scheduled end, or null when there is none. */
export function sessionSecondsLeft(state: RoomState, nowSeconds: number): number | null {
  return secondsLeft(state.schedule.ends_at, nowSeconds);
}

/** 75 -> "1:15"; 3725 -> "1:02:05". */
export function formatClock(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

/** The outcome of someone's turn in the running round, if they have had it. */
export function turnOutcome(state: RoomState, participantId: string): string | null {
  const found = state.round?.outcomes.find(([id]) => id === participantId);
  return found === undefined ? null : found[1];
}

/** Names of those present who have not been heard from yet (facilitators only). */
export function notYetHeard(state: RoomState): string[] {
  const balance = state.talkBalance;
  if (balance === null) return [];
  const present = new Set(state.participants.map((p) => p.participant_id));
  return balance.not_yet_spoken.filter((id) => present.has(id)).map((id) => nameOf(state, id));
}

// -- the store --------------------------------------------------------------------------

export type RoomStore = Store<RoomState, Action>;

export function createRoomStore(hasLink: boolean): RoomStore {
  return new Store(reduce, initialState(hasLink));
}
