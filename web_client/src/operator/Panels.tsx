import { alertLabel, bytes, clock, duration, ms } from "./format";
import { secondsSinceUpdate, type ClearedAlert, type OperatorState, type SortKey, type ViewOptions } from "./store";
import type { AlertView, ServerHealth } from "./types";

/** Thresholds of server/monitoring/quality.py and alerts.py, as docs/monitoring.md states them. */
const CPU_ALERT_RATIO = 0.8;
const LOOP_LAG_ALERT_MS = 100;
/** A push is due about every second: after this long without one, say so. */
export const STALE_AFTER_S = 5;

export function ConnectionStatus({ state, nowMs }: { state: OperatorState; nowMs: number }) {
  const since = secondsSinceUpdate(state, nowMs);
  const last = state.snapshot === null ? null : clock(state.snapshot.at);
  let tone = "live";
  let text: string;
  switch (state.connection.status) {
    case "live":
      if (last === null) {
        tone = "pending";
        text = "Connected, waiting for the first update…";
      } else if (since !== null && since > STALE_AFTER_S) {
        tone = "stale";
        text = `Connected, but no update for ${duration(since)} (last ${last})`;
      } else {
        text = `Live · updated ${last}`;
      }
      break;
    case "connecting":
      tone = "pending";
      text = "Connecting…";
      break;
    case "reconnecting":
      tone = "stale";
      text =
        last === null
          ? "Disconnected, reconnecting…"
          : `Disconnected, reconnecting… figures below are from ${last}${since === null ? "" : ` (${duration(since)} ago)`}`;
      break;
    default:
      tone = "stale";
      text = "Not connected";
  }
  return (
    <p class={`op-status op-status-${tone}`} data-status={state.connection.status}>
      <span class="op-dot" aria-hidden="true" />
      <span>{text}</span>
    </p>
  );
}

function AlertLine({ alert, now }: { alert: AlertView | ClearedAlert; now: number }) {
  const cleared = "cleared_at" in alert;
  return (
    <li class={cleared ? "op-alert op-alert-cleared" : "op-alert"} data-kind={alert.kind}>
      <span class="op-alert-kind">{alertLabel(alert.kind)}</span>
      <span class="op-alert-code">{alert.kind}</span>
      <span class="op-alert-where">
        {alert.room_ref === null ? "server" : <span class="op-ref">{alert.room_ref}</span>}
        {alert.participant_ref !== null && (
          <>
            {" · "}
            <span class="op-ref">{alert.participant_ref}</span>
          </>
        )}
      </span>
      <span class="op-alert-since">
        {cleared
          ? `cleared ${clock(alert.cleared_at)}, after ${duration(alert.cleared_at - alert.since)}`
          : `since ${clock(alert.since)} (${duration(now - alert.since)})`}
      </span>
      <span class="op-alert-message">{alert.message}</span>
    </li>
  );
}

export function AlertsPanel({ state }: { state: OperatorState }) {
  const snapshot = state.snapshot;
  const alerts = snapshot?.alerts ?? [];
  const now = snapshot?.at ?? 0;
  const count = alerts.length;
  return (
    <section
      class={`op-alerts${count > 0 ? " op-alerts-active" : ""}`}
      aria-labelledby="op-alerts-title"
    >
      <h2 id="op-alerts-title">
        {snapshot === null ? "Alerts" : count === 0 ? "No active alerts" : `${count} active alert${count === 1 ? "" : "s"}`}
      </h2>
      {/* Announced when the count changes, not every second. */}
      <p class="sr-only" role="status">
        {snapshot === null ? "" : `${count} active alert${count === 1 ? "" : "s"}`}
      </p>
      {count > 0 && (
        <ul class="op-alert-list" aria-label="Active alerts">
          {alerts.map((alert) => (
            <AlertLine key={alert.kind + alert.room_ref + alert.participant_ref} alert={alert} now={now} />
          ))}
        </ul>
      )}
      {state.cleared.length > 0 && (
        <details class="op-cleared">
          <summary>Recently cleared ({state.cleared.length})</summary>
          <ul class="op-alert-list" aria-label="Recently cleared alerts">
            {state.cleared.map((alert) => (
              <AlertLine
                key={alert.kind + alert.room_ref + alert.participant_ref + alert.cleared_at}
                alert={alert}
                now={now}
              />
            ))}
          </ul>
        </details>
      )}
    </section>
  );
}

export function ServerPanel({ server }: { server: ServerHealth | null }) {
  const row = (label: string, value: string, bad = false, fact?: string) => (
    <div class={bad ? "op-bad" : undefined}>
      <dt>{label}</dt>
      <dd data-fact={fact}>{value}</dd>
    </div>
  );
  return (
    <section class="op-panel" aria-labelledby="op-server-title">
      <h2 id="op-server-title">Server load</h2>
      {server === null ? (
        <p class="op-soft">No figures yet.</p>
      ) : (
        <dl class="op-server">
          {row("CPU", `${Math.round(server.cpu_ratio * 100)} % of a core`, server.cpu_ratio > CPU_ALERT_RATIO, "cpu")}
          {row("Memory", bytes(server.memory_bytes), false, "memory")}
          {row("Event-loop lag", ms(server.event_loop_lag_ms), server.event_loop_lag_ms > LOOP_LAG_ALERT_MS, "lag")}
          {row("Forwarded", `${Math.round(server.forwarded_packets_per_s)} packets/s`, false, "forwarded")}
          {row("Consumers", String(server.consumers), false, "consumers")}
          {row("Rooms", String(server.rooms), false, "rooms")}
          {row("Participants", String(server.participants), false, "participants")}
        </dl>
      )}
    </section>
  );
}

export function Legend() {
  return (
    <section class="op-panel" aria-labelledby="op-legend-title">
      <h2 id="op-legend-title">Connection quality</h2>
      <p class="fine-print">
        Rated by the server: the worst of the figures below. A figure not known yet does not count; "no media" means
        no media connection yet.
      </p>
      <div class="op-table-wrap">
        <table class="op-table op-legend">
          <thead>
            <tr>
              <th scope="col">Figure</th>
              <th scope="col">
                <span class="op-rating op-rating-good">good</span>
              </th>
              <th scope="col">
                <span class="op-rating op-rating-fair">fair</span>
              </th>
              <th scope="col">
                <span class="op-rating op-rating-poor">poor</span>
              </th>
            </tr>
          </thead>
          <tbody>
            <tr>
              <th scope="row">Round-trip time</th>
              <td>≤ 150 ms</td>
              <td>≤ 400 ms</td>
              <td>more</td>
            </tr>
            <tr>
              <th scope="row">Packet loss (worse of up, down)</th>
              <td>≤ 1 %</td>
              <td>≤ 5 %</td>
              <td>more</td>
            </tr>
            <tr>
              <th scope="row">Jitter</th>
              <td>≤ 30 ms</td>
              <td>≤ 60 ms</td>
              <td>more</td>
            </tr>
          </tbody>
        </table>
      </div>
      <p class="fine-print">
        Alerts: poor connection after 10 s over 5 % loss or 400 ms RTT; server CPU over 80 % of a core; event loop over
        100 ms late.
      </p>
    </section>
  );
}

const SORTS: { key: SortKey; label: string; first: [string, string] }[] = [
  { key: "attention", label: "Needs attention", first: ["most first", "least first"] },
  { key: "participants", label: "Participants", first: ["most first", "fewest first"] },
  { key: "rating", label: "Worst rating", first: ["worst first", "best first"] },
  { key: "started", label: "Started", first: ["newest first", "oldest first"] },
  { key: "room", label: "Room id", first: ["z to a", "a to z"] },
];

interface ToolbarProps {
  view: ViewOptions;
  shown: number;
  total: number;
  onView: (patch: Partial<ViewOptions>) => void;
  onSort: (key: SortKey) => void;
}

export function Toolbar({ view, shown, total, onView, onSort }: ToolbarProps) {
  const current = SORTS.find((s) => s.key === view.sort) ?? SORTS[0];
  return (
    <div class="op-toolbar">
      <label class="op-field op-filter">
        <span>Filter by id</span>
        <input
          type="search"
          value={view.text}
          placeholder="room_… or peer_…"
          onInput={(e) => onView({ text: e.currentTarget.value })}
        />
      </label>
      <div class="op-checks">
        <label class="check">
          <input type="checkbox" checked={view.onlyAlerts} onChange={(e) => onView({ onlyAlerts: e.currentTarget.checked })} />
          Only rooms with alerts
        </label>
        <label class="check">
          <input type="checkbox" checked={view.onlyPoor} onChange={(e) => onView({ onlyPoor: e.currentTarget.checked })} />
          Only poor connections
        </label>
      </div>
      <div class="op-sorts" role="group" aria-labelledby="op-sort-label">
        <span id="op-sort-label" class="op-sort-label">
          Sort
        </span>
        {SORTS.map((s) => (
          <button
            key={s.key}
            type="button"
            class="secondary small toggle"
            aria-pressed={view.sort === s.key}
            onClick={() => onSort(s.key)}
          >
            <span class="sr-only">Sort by </span>
            {s.label}
            {view.sort === s.key && <span aria-hidden="true">{view.descending ? " ↓" : " ↑"}</span>}
          </button>
        ))}
      </div>
      <p class="op-soft op-shown" role="status">
        Showing {shown} of {total} room{total === 1 ? "" : "s"}, {current.label.toLowerCase()}{" "}
        {view.descending ? current.first[0] : current.first[1]}.
      </p>
    </div>
  );
}
