// The per-room chart's geometry and its text alternative (pure, so it is testable).

import { duration, kbps, pct } from "./format";
import type { HistoryPoint } from "./types";

/** The chart spans up to the last five minutes (the server keeps about that much history),
 * at least one: a young room's few points are not squeezed into a corner. */
export const CHART_WINDOW_S = 300;
export const CHART_MIN_WINDOW_S = 60;
export const CHART_W = 300;
export const CHART_H = 80;
/** Loss is drawn against at least 0–5 % (the poor threshold) so small loss looks small. */
export const LOSS_FLOOR_PCT = 5;

/** The span shown, in whole minutes from one to five, enough to hold the history. */
export function chartWindow(history: readonly HistoryPoint[], now: number): number {
  const oldest = history.length === 0 ? now : history[0].at;
  const span = Math.min(CHART_WINDOW_S, Math.max(CHART_MIN_WINDOW_S, now - oldest));
  return Math.ceil(span / 60 - 1e-9) * 60;
}

export interface ChartGeometry {
  up: string;
  down: string;
  /** A closed area under the loss figures. */
  loss: string;
  maxKbps: number;
  maxLossPct: number;
  windowS: number;
}

function scaleCeiling(value: number, floor: number): number {
  const top = Math.max(value, floor);
  const step = 10 ** Math.floor(Math.log10(top));
  return Math.ceil(top / step) * step;
}

export function chartGeometry(history: readonly HistoryPoint[], now: number): ChartGeometry {
  const windowS = chartWindow(history, now);
  const recent = history.filter((p) => now - p.at <= windowS);
  const maxKbps = scaleCeiling(Math.max(0, ...recent.map((p) => Math.max(p.bitrate_up_kbps, p.bitrate_down_kbps))), 100);
  const maxLossPct = scaleCeiling(Math.max(0, ...recent.map((p) => p.loss_pct)), LOSS_FLOOR_PCT);
  const x = (at: number) => (CHART_W * (1 - (now - at) / windowS)).toFixed(1);
  const y = (value: number, max: number) => (CHART_H - (CHART_H * Math.min(value, max)) / max).toFixed(1);
  const line = (pick: (p: HistoryPoint) => number) =>
    recent.map((p, i) => `${i === 0 ? "M" : "L"}${x(p.at)},${y(pick(p), maxKbps)}`).join(" ");
  const loss =
    recent.length === 0
      ? ""
      : `M${x(recent[0].at)},${CHART_H} ` +
        recent.map((p) => `L${x(p.at)},${y(p.loss_pct, maxLossPct)}`).join(" ") +
        ` L${x(recent[recent.length - 1].at)},${CHART_H} Z`;
  return {
    up: line((p) => p.bitrate_up_kbps),
    down: line((p) => p.bitrate_down_kbps),
    loss,
    maxKbps,
    maxLossPct,
    windowS,
  };
}

/** The chart in words: now and peak of each series over the window. */
export function chartSummary(history: readonly HistoryPoint[], now: number): string {
  const recent = history.filter((p) => now - p.at <= CHART_WINDOW_S);
  if (recent.length === 0) return "No history yet.";
  const last = recent[recent.length - 1];
  const peak = (pick: (p: HistoryPoint) => number) => Math.max(...recent.map(pick));
  return (
    `Last ${duration(now - recent[0].at)}: bitrate up ${kbps(last.bitrate_up_kbps)} now (peak ${kbps(peak((p) => p.bitrate_up_kbps))}), ` +
    `down ${kbps(last.bitrate_down_kbps)} now (peak ${kbps(peak((p) => p.bitrate_down_kbps))}), ` +
    `loss ${pct(last.loss_pct)} now (peak ${pct(peak((p) => p.loss_pct))}).`
  );
}
