// Figures as an operator reads them: units always shown, unknown as an en dash.

import type { LayerCounts, PauseCounts } from "./types";

export const UNKNOWN = "–";

export function kbps(value: number | null | undefined): string {
  if (value == null) return UNKNOWN;
  return value >= 1000 ? `${(value / 1000).toFixed(1)} Mbps` : `${Math.round(value)} kbps`;
}

export function pct(value: number | null | undefined): string {
  if (value == null) return UNKNOWN;
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} %`;
}

export function ms(value: number | null | undefined): string {
  if (value == null) return UNKNOWN;
  return `${Math.round(value)} ms`;
}

export function bytes(value: number): string {
  const mib = value / (1024 * 1024);
  return mib >= 1024 ? `${(mib / 1024).toFixed(2)} GiB` : `${Math.round(mib)} MiB`;
}

/** Local wall-clock time of an epoch-seconds instant, to the second. */
export function clock(epochS: number | null | undefined): string {
  if (epochS == null) return UNKNOWN;
  return new Date(epochS * 1000).toLocaleTimeString([], {
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hour12: false,
  });
}

/** A duration, coarse: "45 s", "12 min", "1 h 05 min". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

const LAYER_NAMES: readonly [keyof LayerCounts, string][] = [
  ["f", "full"],
  ["h", "half"],
  ["q", "quarter"],
  ["single", "single"],
];

/** The layers someone receives, best first: "full 1, quarter 3"; "none" when nothing. */
export function layersReceived(counts: LayerCounts | undefined): string {
  if (counts === undefined) return UNKNOWN;
  const parts = LAYER_NAMES.filter(([key]) => counts[key] > 0).map(([key, name]) => `${name} ${counts[key]}`);
  return parts.length === 0 ? "none" : parts.join(", ");
}

/** Cameras paused for them: "2 hidden, 1 bandwidth"; "none". */
export function videosPaused(counts: PauseCounts | undefined): string {
  if (counts === undefined) return UNKNOWN;
  const parts = (["hidden", "bandwidth"] as const).filter((key) => counts[key] > 0).map((key) => `${counts[key]} ${key}`);
  return parts.length === 0 ? "none" : parts.join(", ");
}

/** Their camera's layers that someone receives, lowest first: "q h"; "none". */
export function layersPublished(rids: string[] | undefined): string {
  if (rids === undefined) return UNKNOWN;
  const order = ["q", "h", "f"];
  const sorted = [...rids].sort((a, b) => order.indexOf(a) - order.indexOf(b));
  return sorted.length === 0 ? "none" : sorted.join(" ");
}

const KIND_LABELS: Record<string, string> = {
  facilitator_disconnected: "Facilitator disconnected",
  poor_connection: "Poor connection",
  room_overtime: "Room overtime",
  server_cpu: "Server CPU high",
  event_loop_lag: "Event loop lagging",
  media_budget_exceeded: "Media over budget",
};

export function alertLabel(kind: string): string {
  return KIND_LABELS[kind] ?? kind;
}
