import { CHART_H, CHART_W, chartGeometry, chartSummary } from "./chart";
import { kbps } from "./format";
import type { HistoryPoint } from "./types";

/** Bitrate up and down (lines) and worst loss (shaded) over the last five minutes. */
export function RoomChart({ roomRef, history, now }: { roomRef: string; history: HistoryPoint[]; now: number }) {
  const g = chartGeometry(history, now);
  const summaryId = `chart-summary-${roomRef}`;
  return (
    <figure class="op-chart">
      <div class="op-chart-frame">
        <span class="op-chart-scale op-chart-scale-left" aria-hidden="true">{kbps(g.maxKbps)}</span>
        <span class="op-chart-scale op-chart-scale-right" aria-hidden="true">loss {g.maxLossPct} %</span>
        <svg
          viewBox={`0 0 ${CHART_W} ${CHART_H}`}
          preserveAspectRatio="none"
          role="img"
          aria-labelledby={summaryId}
          focusable="false"
        >
          <line class="op-grid" x1="0" y1={CHART_H / 2} x2={CHART_W} y2={CHART_H / 2} />
          {g.loss !== "" && <path class="op-series-loss" d={g.loss} />}
          {g.down !== "" && <path class="op-series-down" d={g.down} />}
          {g.up !== "" && <path class="op-series-up" d={g.up} />}
        </svg>
      </div>
      <div class="op-chart-key" aria-hidden="true">
        <span><i class="op-key op-key-up" />up</span>
        <span><i class="op-key op-key-down" />down</span>
        <span><i class="op-key op-key-loss" />loss</span>
        <span class="op-chart-span">last {g.windowS / 60} min</span>
      </div>
      <figcaption id={summaryId} class="op-chart-summary">
        {chartSummary(history, now)}
      </figcaption>
    </figure>
  );
}
