// The room as this browser knows it: one state, changed only by `reduce`, fed by the
// server's acks and events. Nothing here assumes a command worked; an action is
// dispatched when the ack or the event says so.

import {
  facilitates,
  type ChatMessage,
  type CheckIn,
  type Device,
  type FloorView,
  type ParticipantView,
  type ReceivedVideo,
  type RoomSettings,
  type SideRoomView,
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
  /** Open requests to check in: facilitators see all, a member only their own. */
  checkIns: CheckIn[];
  /** Whom a facilitator spotlighted (see `spotlighted` for who is shown large). */
  spotlightId: string | null;
  /** Who shares their screen now. */
  screenSharerId: string | null;
  /** Members a facilitator let share their screen (a member sees only themself). */
  screenShareAllowed: string[];
  /** Who is aside, and with whom (everyone else is in the main room). */
  sideRooms: SideRoomView[];
  /** The latest change worth saying aloud to a screen-reader user; `seq` tells repeats apart. */
  announcement: { seq: number; text: string } | null;
  /** What we receive of each camera, by publisher, as the server last said (simulcast). */
  videoForwarding: Record<string, ReceivedVideo>;
}

export const NO_FLOOR: FloorView = { mode: false, holder_id: null, ends_at: null };
export const NO_SCHEDULE: Schedule = { starts_at: null, ends_at: null, hard_end: false, late_cutoff_at: null };

export const DEFAULT_SETTINGS: RoomSettings = {
  locked: false,
  auto_admit: false,
  self_unmute_allowed: false,
  chat_enabled: true,
  capacity: 16,
  spotlight_follows_floor: false,
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
    checkIns: [],
    spotlightId: null,
    screenSharerId: null,
    screenShareAllowed: [],
    sideRooms: [],
    announcement: null,
    videoForwarding: {},
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
  | { type: "clock_warning_dismissed" }
  /** Our peer connections closed: what the server forwarded to them is gone too. */
  | { type: "media_stopped" };

const FINAL_PHASES: readonly Phase[] = ["left", "removed", "denied", "ended", "superseded"];

export function isFinal(phase: Phase): boolean {
  return FINAL_PHASES.includes(phase);
}

export function reduce(state: RoomState, action: Action): RoomState {
  const next = reduceRoom(state, action);
  if (next === state) return next;
  const text = announcementFor(state, next, action);
  return text === null ? next : { ...next, announcement: { seq: (state.announcement?.seq ?? 0) + 1, text } };
}

/** What a person would want said to them when this changes: their turn, being asked, a
 * message, their camera. Read out through a live region (ui/Announcer). "The facilitator
 * muted you" is not here: the hearing line says it, and is a live region itself. */
function announcementFor(before: RoomState, after: RoomState, action: Action): string | null {
  const me = after.me;
  if (me === null || after.phase !== "in_room") return null;
  switch (action.type) {
    case "media_changed": {
      const { participant_id, by, microphone, camera } = action.payload;
      if (participant_id !== me.participant_id || by === null || before.me === null) return null;
      if (before.me.microphone.on !== microphone.on) return null; // the hearing line says it
      if (before.me.camera.on && !camera.on) return "The facilitator turned your camera off.";
      return null;
    }
    case "unmute_requested": {
      const { participant_id, device, by } = action.payload;
      if (participant_id !== me.participant_id) return null;
      const asker = nameOf(after, by);
      return device === "microphone" ? `${asker} asked you to unmute.` : `${asker} asked you to turn your camera on.`;
    }
    case "round_changed":
    case "floor_changed":
    case "hand_queue_changed":
    case "room_snapshot": {
      const mine = (s: RoomState) => floorHolder(s) === me.participant_id;
      if (mine(after) && !mine(before)) return after.round !== null ? "Your turn." : "You have the floor.";
      if (youAreNext(after) && !youAreNext(before)) return "You're next.";
      return null;
    }
    case "side_rooms_changed": {
      const was = placeOf(before, me.participant_id);
      const now = placeOf(after, me.participant_id);
      if (was === now) return null;
      if (now === null) return "You are back with the group.";
      const with_ = companions(after).map((p) => p.display_name);
      return with_.length > 0 ? `You are now in a side room with ${listOf(with_)}.` : "You are now in a side room.";
    }
    case "chat_message": {
      const entry = after.chat[after.chat.length - 1];
      if (entry === undefined || after.chat.length === before.chat.length) return null;
      if (entry.sender_id === me.participant_id) return null;
      const to = entry.to_facilitators ? " (to the facilitators)" : "";
      return `${entry.sender_name}${to}: ${entry.text}`;
    }
    default:
      return null;
  }
}

function reduceRoom(state: RoomState, action: Action): RoomState {
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
    case "media_stopped":
      return Object.keys(state.videoForwarding).length === 0 ? state : { ...state, videoForwarding: {} };

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
        checkIns: [],
        spotlightId: null,
        screenSharerId: null,
        sideRooms: [],
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
    case "check_in_changed":
      return checkInChanged(state, action.payload);
    case "spotlight_changed":
      return { ...state, spotlightId: action.payload.participant_id };
    case "screen_share_changed": {
      const { participant_id, stopped_by } = action.payload;
      const mineStopped = stopped_by !== null && state.screenSharerId === state.me?.participant_id;
      return {
        ...state,
        screenSharerId: participant_id,
        notice: mineStopped ? "The facilitator stopped your screen share." : state.notice,
      };
    }
    case "side_rooms_changed":
      return { ...state, sideRooms: action.payload.side_rooms };
    case "screen_share_permission_changed": {
      const { participant_id, allowed } = action.payload;
      const rest = state.screenShareAllowed.filter((id) => id !== participant_id);
      const mine = participant_id === state.me?.participant_id;
      return {
        ...state,
        screenShareAllowed: allowed ? [...rest, participant_id] : rest,
        notice: mine
          ? allowed
            ? "The facilitator lets you share your screen."
            : "The facilitator no longer lets you share your screen."
          : state.notice,
      };
    }
    case "server_shutting_down":
      // The session goes on after a restart: the client reconnects and rejoins by itself.
      return action.payload.sessions_continue
        ? { ...state, notice: "The server is restarting. You will be back in the session in a moment." }
        : { ...state, notice: "The server is shutting down, so this session is ending." };
    case "subscriber_offer":
    case "media_failed":
    case "publish_layers":
      return state; // media, not room state
    case "video_forwarding":
      return {
        ...state,
        videoForwarding: Object.fromEntries(action.payload.videos.map((v) => [v.participant_id, v])),
      };
    case "connection_problem": {
      // Sent to facilitators only. Worded as a connection problem, never as blame.
      const name = nameOf(state, action.payload.participant_id);
      return { ...state, notice: `${name}'s connection is unstable: they may stutter for a while.` };
    }
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
    checkIns: snapshot.check_ins ?? [],
    spotlightId: snapshot.spotlight_id ?? null,
    screenSharerId: snapshot.screen_sharer_id ?? null,
    screenShareAllowed: snapshot.screen_share_allowed ?? [],
    sideRooms: snapshot.side_rooms ?? [],
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
    // A request to check in goes with its person (the server closes it too).
    checkIns: state.checkIns.filter((c) => c.participant_id !== participant_id),
    spotlightId: state.spotlightId === participant_id ? null : state.spotlightId,
    screenSharerId: state.screenSharerId === participant_id ? null : state.screenSharerId,
  };
}

function checkInChanged(state: RoomState, change: ServerEvents["check_in_changed"]): RoomState {
  const { participant_id, request, acknowledged_by } = change;
  const rest = state.checkIns.filter((c) => c.participant_id !== participant_id);
  const checkIns = request === null ? rest : [...rest, request];
  const mine = participant_id === state.me?.participant_id;
  let notice = state.notice;
  if (mine && acknowledged_by !== null) {
    notice = `${nameOf(state, acknowledged_by)} saw your request and will check in with you.`;
  } else if (!mine && request !== null && state.screenSharerId !== state.me?.participant_id) {
    // Not while we share our screen: the group could read it there.
    notice = `${nameOf(state, participant_id)} asked you to check in with them (only facilitators see this).`;
  }
  return { ...state, checkIns, notice };
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

// -- checking in and the spotlight ---------------------------------------------------

/** Our own open request to check in, if any. */
export function myCheckIn(state: RoomState): CheckIn | null {
  return state.checkIns.find((c) => c.participant_id === state.me?.participant_id) ?? null;
}

/** Who is shown large on every screen: a facilitator's choice, else (when the room says
 * so) the floor holder, who in a round is the current speaker. Mirrors Room.spotlighted. */
export function spotlighted(state: RoomState): string | null {
  const chosen = state.spotlightId ?? (state.settings.spotlight_follows_floor ? state.floor.holder_id : null);
  if (chosen === null) return null;
  return state.participants.some((p) => p.participant_id === chosen) ? chosen : null;
}

/** Why we get no video of this person although their camera is on (null: we get it, or
 * nothing says otherwise). A tile shows "paused to keep audio clear" for "bandwidth". */
export function videoPause(state: RoomState, participantId: string): ReceivedVideo["paused"] {
  const participant = state.participants.find((p) => p.participant_id === participantId);
  if (participant === undefined || !participant.camera.on) return null;
  return state.videoForwarding[participantId]?.paused ?? null;
}

/** Whether we may share our screen: facilitators, and members a facilitator allowed. */
export function mayShareScreen(state: RoomState): boolean {
  const me = state.me;
  if (me === null || me.role === "observer") return false;
  return facilitates(me.role) || state.screenShareAllowed.includes(me.participant_id);
}

/** The side room someone is in; null: the main room. */
export function placeOf(state: RoomState, participantId: string): string | null {
  return state.sideRooms.find((r) => r.participant_ids.includes(participantId))?.side_room_id ?? null;
}

/** The others who are where we are (the main room, or our side room): the only ones
 * whose media reaches us. */
export function companions(state: RoomState): ParticipantView[] {
  const here = state.me === null ? null : placeOf(state, state.me.participant_id);
  return others(state).filter((p) => placeOf(state, p.participant_id) === here);
}

/** "Ana", "Ana and Ben", "Ana, Ben and Cleo". */
export function listOf(names: string[]): string {
  if (names.length <= 1) return names.join("");
  return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

/** "14:05" in the viewer's local time, from Unix seconds. */
export function clockTime(unixSeconds: number): string {
  const at = new Date(unixSeconds * 1000);
  return `${String(at.getHours()).padStart(2, "0")}:${String(at.getMinutes()).padStart(2, "0")}`;
}

// -- the store --------------------------------------------------------------------------

export type RoomStore = Store<RoomState, Action>;

export function createRoomStore(hasLink: boolean): RoomStore {
  return new Store(reduce, initialState(hasLink));
}
