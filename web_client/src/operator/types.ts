// The operator feed's JSON, mirroring server/monitoring/views.py (MonitorSnapshot and
// its parts). Pseudonymous ids, roles, states and figures: never names, never media.

export type Rating = "good" | "fair" | "poor";

export type AlertKind =
  | "facilitator_disconnected"
  | "poor_connection"
  | "room_overtime"
  | "server_cpu"
  | "event_loop_lag"
  | "media_budget_exceeded";

export interface ParticipantHealth {
  participant_ref: string;
  role: string;
  state: string;
  /** null: no media connection yet. */
  rating: Rating | null;
  rtt_ms: number | null;
  jitter_ms: number | null;
  loss_up_pct: number | null;
  loss_down_pct: number | null;
  bitrate_up_kbps: number | null;
  bitrate_down_kbps: number | null;
  candidate_type: string | null;
  media_budget_exceeded: boolean;
  /** Simulcast: how many cameras they receive at each layer ("single": publishers of
   * one layer only). Absent from servers before simulcast. */
  video_layers_received?: LayerCounts;
  /** Cameras they may receive but get none of, and why. */
  videos_paused?: PauseCounts;
  /** The layers of their own camera someone receives (the others are paused). */
  layers_published?: string[];
  /** The server's estimate of their downlink; null: none yet. */
  downlink_estimate_kbps?: number | null;
}

export interface LayerCounts {
  q: number;
  h: number;
  f: number;
  single: number;
}

export interface PauseCounts {
  hidden: number;
  bandwidth: number;
}

export interface HistoryPoint {
  /** Seconds since the epoch (server clock). */
  at: number;
  bitrate_up_kbps: number;
  bitrate_down_kbps: number;
  loss_pct: number;
}

export interface RoomDetail {
  room_ref: string;
  started_at: number | null;
  scheduled_end: number | null;
  participants: number;
  waiting: number;
  facilitator_present: boolean;
  rating: Rating | null;
  bitrate_up_kbps: number;
  bitrate_down_kbps: number;
  loss_pct: number;
  people: ParticipantHealth[];
  /** The last minutes, about one point a second. */
  history: HistoryPoint[];
}

export interface ServerHealth {
  cpu_ratio: number;
  memory_bytes: number;
  event_loop_lag_ms: number;
  forwarded_packets_per_s: number;
  consumers: number;
  rooms: number;
  participants: number;
}

export interface AlertView {
  kind: AlertKind;
  room_ref: string | null;
  participant_ref: string | null;
  since: number;
  message: string;
}

export interface MonitorSnapshot {
  /** Seconds since the epoch (server clock). */
  at: number;
  server: ServerHealth;
  rooms: RoomDetail[];
  alerts: AlertView[];
}

/** Why the server refused the live channel (or the API refused a request). */
export interface Refusal {
  code: string;
  message: string;
}
