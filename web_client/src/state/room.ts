// The room as this browser knows it: one state, changed only by `reduce`, fed by the
// server's acks and events. Nothing here assumes a command worked; an action is
// dispatched when the ack or the event says so.

import {
  facilitates,
  type ChatMessage,
  type Device,
  type ParticipantView,
  type RoomSettings,
  type RoomSnapshot,
  type ServerEventName,
  type ServerEvents,
} from "../protocol/types";

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
}

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
  | { type: "connection"; status: ConnectionStatus }
  | { type: "notice"; text: string }
  | { type: "notice_dismissed" };

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
    case "connection":
      return state.connection === action.status ? state : { ...state, connection: action.status };
    case "notice":
      return { ...state, notice: action.text };
    case "notice_dismissed":
      return state.notice === null ? state : { ...state, notice: null };

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
      return { ...state, phase: "ended", endedReason: action.payload.reason, unmuteRequest: null };
    case "speaking_changed": {
      const { participant_id, speaking } = action.payload;
      if (Boolean(state.speaking[participant_id]) === speaking) return state;
      return { ...state, speaking: { ...state.speaking, [participant_id]: speaking } };
    }
    case "superseded":
      return { ...state, phase: "superseded" };
    case "subscriber_offer":
      return state; // media, not room state
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
    speaking: {},
    microphoneOffBy: me.microphone.on ? null : state.microphoneOffBy,
    cameraOffBy: me.camera.on ? null : state.cameraOffBy,
  };
  return withHandQueue(next, snapshot.hand_queue);
}

function participantLeft(
  state: RoomState,
  { participant_id, reason }: ServerEvents["participant_left"],
): RoomState {
  if (participant_id === state.me?.participant_id) {
    if (reason === "removed") return { ...state, phase: "removed", unmuteRequest: null };
    if (reason === "denied") return { ...state, phase: "denied", unmuteRequest: null };
    if (reason === "session_ended") return { ...state, phase: "ended" };
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

// -- the store --------------------------------------------------------------------------

export type Listener = (state: RoomState) => void;

export class RoomStore {
  private state: RoomState;
  private readonly listeners = new Set<Listener>();

  constructor(initial: RoomState) {
    this.state = initial;
  }

  get current(): RoomState {
    return this.state;
  }

  dispatch(action: Action): void {
    const next = reduce(this.state, action);
    if (next === this.state) return;
    this.state = next;
    for (const listener of this.listeners) listener(next);
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
