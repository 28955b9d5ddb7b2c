// The wire protocol as the server speaks it. Ground truth: signaling/events.py (names),
// signaling/schemas.py (client payloads), rooms/events.py + rooms/room.py (server
// payloads are those dataclasses as JSON), signaling/service.py (acks).

export type Role = "facilitator" | "cofacilitator" | "member" | "observer";
export type ParticipantState = "waiting" | "admitted" | "left" | "denied" | "removed";
export type Device = "microphone" | "camera";
export type LeaveReason = "left" | "disconnected" | "removed" | "denied";
export type TrackKind = "audio" | "video";

export interface DeviceState {
  on: boolean;
  /** A facilitator switched it off and has not let the participant switch it back on. */
  held: boolean;
}

export interface ParticipantView {
  participant_id: string;
  display_name: string;
  role: Role;
  state: ParticipantState;
  microphone: DeviceState;
  camera: DeviceState;
  hand_raised: boolean;
  accepted_ground_rules: boolean;
  joined_at: number;
  /** Their connection dropped; the room keeps their place while they come back. */
  reconnecting?: boolean;
}

export interface RoomSettings {
  locked: boolean;
  auto_admit: boolean;
  self_unmute_allowed: boolean;
  chat_enabled: boolean;
  capacity: number;
  /** Without a facilitator's choice, whoever holds the floor is spotlighted. */
  spotlight_follows_floor: boolean;
  /** Whether the same link may take over a seat whose connection is alive. */
  takeover_allowed?: boolean;
}

/** rooms/siderooms.py: people aside see and hear only each other. */
export interface SideRoomView {
  side_room_id: string;
  participant_ids: string[];
  /** Unix seconds; null: until a facilitator brings them back. */
  ends_at: number | null;
}

/** rooms/checkins.py: a member's discreet "please check in with me". Only the
 * facilitators and that member ever see it. */
export interface CheckIn {
  participant_id: string;
  /** Unix seconds. */
  requested_at: number;
}

export interface RoomSnapshot {
  room_id: string;
  title: string;
  ended: boolean;
  settings: RoomSettings;
  ground_rules: string;
  you: ParticipantView;
  /** Empty while you wait: the roster is private. */
  participants: ParticipantView[];
  /** Only facilitators see who waits. */
  waiting: ParticipantView[];
  hand_queue: string[];
  /** Null while you wait. */
  floor: FloorView | null;
  /** Null when no round is running (and while you wait). */
  round: RoundView | null;
  schedule: Schedule;
  /** Who is speaking now (only audible speech counts). */
  speaking: string[];
  /** Facilitators only; null for everyone else. */
  talk_balance: TalkBalance | null;
  /** Whom a facilitator spotlighted; null while you wait. */
  spotlight_id: string | null;
  /** Facilitators: every open request; a member: their own. */
  check_ins: CheckIn[];
  /** Who shares their screen; null while you wait. */
  screen_sharer_id: string | null;
  /** Members a facilitator let share: facilitators see all; a member, themself. */
  screen_share_allowed: string[];
  /** Who is aside, and with whom; empty while you wait. */
  side_rooms: SideRoomView[];
}

/** rooms/floor.py FloorView. In floor mode (and during a round) only the holder and
 * the facilitators can be heard: the server drops everyone else's audio. */
export interface FloorView {
  mode: boolean;
  holder_id: string | null;
  /** Unix seconds; null: no time limit. */
  ends_at: number | null;
}

export type TurnOutcome = "done" | "passed" | "skipped" | "timed_out" | "left";
export type RoundOrder = "join" | "shuffled" | "chosen";

/** rooms/rounds.py RoundView: a go-around. The current speaker holds the floor. */
export interface RoundView {
  order: string[];
  current_id: string | null;
  next_id: string | null;
  turn_seconds: number | null;
  /** Unix seconds; null: untimed turns. */
  turn_ends_at: number | null;
  /** Finished turns, in order. */
  outcomes: [string, TurnOutcome][];
}

/** rooms/talktime.py: a balance of speaking time, not a score. */
export interface TalkShare {
  participant_id: string;
  /** Of all speaking time so far, 0..1. */
  share: number;
  has_spoken: boolean;
}

export interface TalkBalance {
  shares: TalkShare[];
  not_yet_spoken: string[];
}

/** rooms/schedule.py: Unix seconds or null. */
export interface Schedule {
  starts_at: number | null;
  ends_at: number | null;
  hard_end: boolean;
  late_cutoff_at: number | null;
}

export interface AuditRecord {
  at: number;
  actor_id: string | null;
  target_id: string | null;
  action: string;
  /** An operator's stated reason for ending the session; null otherwise. */
  reason: string | null;
}

export interface ChatMessage {
  message_id: number;
  sender_id: string;
  text: string;
  to_facilitators: boolean;
  sent_at: number;
}

export interface ForwardedTrack {
  mid: string;
  participant_id: string;
  kind: TrackKind;
  /** This video is the participant's shared screen, not their camera. */
  screen: boolean;
}

export interface SessionDescriptionInit {
  sdp: string;
  type: "offer" | "answer";
}

/** Why we receive no video of someone whose camera we may see. */
export type VideoPause = "hidden" | "bandwidth";

/** What we receive of one camera (signaling/media.py ReceivedVideo). */
export interface ReceivedVideo {
  participant_id: string;
  /** The simulcast layer ("q", "h", "f"), or null: paused, or they send one layer. */
  layer: string | null;
  paused: VideoPause | null;
}

/** One row of `report_view`: how we show someone's camera, in device pixels. */
export interface TileView {
  participant_id: string;
  visible: boolean;
  width: number;
  height: number;
}

/** Server -> client events and their payloads. */
export interface ServerEvents {
  room_snapshot: RoomSnapshot;
  participant_waiting: { participant: ParticipantView };
  participant_admitted: { participant: ParticipantView };
  participant_left: { participant_id: string; reason: LeaveReason };
  participant_reconnecting: { participant_id: string; reconnecting: boolean };
  media_changed: {
    participant_id: string;
    microphone: DeviceState;
    camera: DeviceState;
    /** The facilitator who switched a device off; null for one's own change. */
    by: string | null;
  };
  unmute_requested: { participant_id: string; device: Device; by: string };
  unmute_request_answered: { participant_id: string; device: Device; accepted: boolean };
  settings_changed: { settings: RoomSettings };
  hand_queue_changed: { queue: string[] };
  chat_message: { message: ChatMessage };
  session_ended: { ended_by: string | null; reason: string };
  speaking_changed: { participant_id: string; speaking: boolean };
  floor_changed: { floor: FloorView };
  round_changed: { round: RoundView | null };
  /** To the speaker and the facilitators, 15 s before a timed turn ends. */
  turn_warning: { participant_id: string; seconds_left: number };
  /** Facilitators only. */
  talk_time_changed: { balance: TalkBalance };
  schedule_changed: { schedule: Schedule };
  /** Facilitators only; 0: the scheduled end has passed (no hard end). */
  session_clock_warning: { minutes_left: number; ends_at: number };
  ground_rules_changed: { ground_rules: string };
  /** To the facilitators and that member only. Null request: closed. */
  check_in_changed: { participant_id: string; request: CheckIn | null; acknowledged_by: string | null };
  spotlight_changed: { participant_id: string | null };
  /** `stopped_by`: the facilitator who stopped someone else's share. */
  screen_share_changed: { participant_id: string | null; stopped_by: string | null };
  /** To the facilitators and that member. */
  screen_share_permission_changed: { participant_id: string; allowed: boolean };
  side_rooms_changed: { side_rooms: SideRoomView[] };
  subscriber_offer: { sdp: string; type: "offer"; revision: number; tracks: ForwardedTrack[] };
  superseded: Record<string, never>;
  /** Facilitators only: a participant's media connection has a problem (never blame). */
  connection_problem: { participant_id: string; problem: "unstable_media" };
  /** The server is stopping. sessions_continue: reconnect (Socket.IO does) and rejoin. */
  server_shutting_down: { retry_after_s: number; sessions_continue: boolean };
  /** One of our peer connections failed; the server dropped both: negotiate anew. */
  media_failed: Record<string, never>;
  /** Facilitators: a new connection took over this person's seat. */
  seat_taken_over: { participant_id: string };
  /** To us alone: what we receive of each camera, the whole picture, when it changes. */
  video_forwarding: { videos: ReceivedVideo[] };
  /** To us alone: which layers of our camera anyone receives (pause the others). */
  publish_layers: { active: Record<string, boolean> };
}

export type ServerEventName = keyof ServerEvents;

export const SERVER_EVENTS: readonly ServerEventName[] = [
  "room_snapshot",
  "participant_waiting",
  "participant_admitted",
  "participant_left",
  "participant_reconnecting",
  "media_changed",
  "unmute_requested",
  "unmute_request_answered",
  "settings_changed",
  "hand_queue_changed",
  "chat_message",
  "session_ended",
  "speaking_changed",
  "floor_changed",
  "round_changed",
  "turn_warning",
  "talk_time_changed",
  "schedule_changed",
  "session_clock_warning",
  "ground_rules_changed",
  "check_in_changed",
  "spotlight_changed",
  "screen_share_changed",
  "screen_share_permission_changed",
  "side_rooms_changed",
  "subscriber_offer",
  "superseded",
  "connection_problem",
  "server_shutting_down",
  "media_failed",
  "seat_taken_over",
  "video_forwarding",
  "publish_layers",
];

export type SettingsChange = Partial<
  Pick<RoomSettings, "locked" | "auto_admit" | "self_unmute_allowed" | "chat_enabled" | "spotlight_follows_floor">
>;

/** STUN/TURN servers with time-limited credentials (docs/protocol.md, "ICE servers"). */
export interface IceServers {
  ice_servers: RTCIceServer[];
  /** Ask again with refresh_ice_servers after this many seconds; null: never. */
  ice_servers_refresh_s: number | null;
}

/** Client -> server commands: payload and the extra fields of a successful ack. */
export interface ClientCommands {
  join: {
    payload: { token: string; room_id?: string; microphone?: boolean; camera?: boolean };
    reply: { snapshot: RoomSnapshot } & IceServers;
  };
  leave: { payload: Record<string, never>; reply: object };
  accept_ground_rules: { payload: Record<string, never>; reply: object };
  set_media: { payload: { device: Device; on: boolean }; reply: object };
  answer_unmute_request: { payload: { device?: Device; accept: boolean }; reply: object };
  raise_hand: { payload: Record<string, never>; reply: object };
  lower_hand: { payload: { participant_id?: string }; reply: object };
  send_chat: { payload: { text: string; to_facilitators?: boolean }; reply: object };
  request_check_in: { payload: Record<string, never>; reply: object };
  cancel_check_in: { payload: Record<string, never>; reply: object };
  acknowledge_check_in: { payload: { participant_id: string }; reply: object };
  spotlight: { payload: { participant_id: string }; reply: object };
  clear_spotlight: { payload: Record<string, never>; reply: object };
  start_screen_share: { payload: Record<string, never>; reply: object };
  /** No participant: your own share. */
  stop_screen_share: { payload: { participant_id?: string }; reply: object };
  allow_screen_share: { payload: { participant_id: string; allowed: boolean }; reply: object };
  open_side_room: { payload: { participant_ids: string[]; seconds?: number }; reply: object };
  /** No side room: back to the main room. */
  move_to_side_room: { payload: { participant_id: string; side_room_id?: string | null }; reply: object };
  close_side_room: { payload: { side_room_id: string }; reply: object };
  bring_everyone_back: { payload: Record<string, never>; reply: object };
  admit: { payload: { participant_id: string }; reply: object };
  deny: { payload: { participant_id: string }; reply: object };
  admit_all: { payload: Record<string, never>; reply: object };
  update_settings: { payload: SettingsChange; reply: object };
  mute: { payload: { participant_id: string; device?: Device }; reply: object };
  mute_all: { payload: Record<string, never>; reply: object };
  ask_to_unmute: { payload: { participant_id: string; device?: Device }; reply: object };
  allow_unmute: { payload: { participant_id: string; device?: Device }; reply: object };
  remove: { payload: { participant_id: string }; reply: object };
  end_session: { payload: { reason?: string }; reply: object };
  set_floor_mode: { payload: { on: boolean }; reply: object };
  /** No participant: the first raised hand. No seconds: no time limit. */
  give_floor: { payload: { participant_id?: string; seconds?: number }; reply: object };
  take_back_floor: { payload: Record<string, never>; reply: object };
  yield_floor: { payload: Record<string, never>; reply: object };
  start_round: {
    payload: { order?: RoundOrder; participant_ids?: string[]; turn_seconds?: number };
    reply: object;
  };
  finish_turn: { payload: { passed?: boolean }; reply: object };
  skip_turn: { payload: Record<string, never>; reply: object };
  end_round: { payload: Record<string, never>; reply: object };
  extend_turn: { payload: { seconds: number }; reply: object };
  set_ground_rules: { payload: { text: string }; reply: object };
  /** Omitted fields are cleared. */
  set_schedule: { payload: Partial<Schedule>; reply: object };
  get_audit: { payload: Record<string, never>; reply: { room_id: string; records: AuditRecord[] } };
  publish: { payload: { sdp: string; type: "offer"; screen_mid?: string }; reply: SessionDescriptionInit };
  subscribe: { payload: Record<string, never>; reply: object };
  subscriber_answer: { payload: { sdp: string; type: "answer"; revision: number }; reply: object };
  ice_candidate: {
    payload: {
      leg: "publish" | "subscribe";
      candidate: string;
      sdpMid?: string | null;
      sdpMLineIndex?: number | null;
    };
    reply: object;
  };
  refresh_ice_servers: { payload: Record<string, never>; reply: IceServers };
  restart_media: { payload: Record<string, never>; reply: object };
  report_view: { payload: { tiles: TileView[] }; reply: object };
}

export type CommandName = keyof ClientCommands;

export interface ProtocolErrorBody {
  code: string;
  message: string;
  /** wrong_node: the address of the node that holds the room (join there). */
  node_url?: string;
}

export type Ack<R> = ({ ok: true } & R) | { ok: false; error: ProtocolErrorBody };

export const FACILITATING_ROLES: readonly Role[] = ["facilitator", "cofacilitator"];

export function facilitates(role: Role): boolean {
  return FACILITATING_ROLES.includes(role);
}
