import { RoomChart } from "./Chart";
import { alertLabel, clock, duration, kbps, layersPublished, layersReceived, ms, pct, UNKNOWN, videosPaused } from "./format";
import { alertsForRoom, visiblePeople, worstRating, type ViewOptions } from "./store";
import type { AlertView, Rating, RoomDetail } from "./types";

export function RatingBadge({ rating }: { rating: Rating | null }) {
  if (rating === null) return <span class="op-rating op-rating-none">no media</span>;
  return <span class={`op-rating op-rating-${rating}`}>{rating}</span>;
}

interface Props {
  room: RoomDetail;
  alerts: AlertView[];
  view: ViewOptions;
  now: number;
  onEnd: (roomRef: string) => void;
}

export function RoomCard({ room, alerts, view, now, onEnd }: Props) {
  const ref = room.room_ref;
  const headingId = `room-${ref}`;
  const mine = alertsForRoom(alerts, ref);
  const worst = worstRating(room);
  const people = visiblePeople(room, view);
  const overtime = room.scheduled_end !== null && now > room.scheduled_end;
  return (
    <section
      class={`op-room${mine.length > 0 ? " op-room-alert" : ""}`}
      aria-labelledby={headingId}
      data-room-ref={ref}
    >
      <header class="op-room-head">
        <h3 id={headingId} class="op-ref">
          {ref}
        </h3>
        <RatingBadge rating={worst} />
        {mine.length > 0 && (
          <span class="op-alert-count">
            {mine.length} alert{mine.length === 1 ? "" : "s"}
          </span>
        )}
        <button type="button" class="danger-quiet small op-end" onClick={() => onEnd(ref)}>
          End room <span class="op-ref">{ref}</span>
        </button>
      </header>
      {mine.length > 0 && (
        <ul class="op-room-alerts">
          {mine.map((alert) => (
            <li key={alert.kind + (alert.participant_ref ?? "")}>
              <strong>{alertLabel(alert.kind)}</strong>
              {alert.participant_ref !== null && <span class="op-ref"> {alert.participant_ref}</span>}: {alert.message}
            </li>
          ))}
        </ul>
      )}
      <div class="op-room-body">
        <dl class="op-facts">
          <div>
            <dt>Participants</dt>
            <dd class="op-big" data-fact="participants">
              {room.participants}
            </dd>
          </div>
          <div>
            <dt>Waiting</dt>
            <dd class="op-big" data-fact="waiting">
              {room.waiting}
            </dd>
          </div>
          <div>
            <dt>Facilitator</dt>
            <dd data-fact="facilitator" class={room.facilitator_present ? "op-ok" : "op-bad"}>
              {room.facilitator_present ? "present" : "absent"}
            </dd>
          </div>
          <div>
            <dt>Started</dt>
            <dd>
              {room.started_at === null ? "not yet" : clock(room.started_at)}
              {room.started_at !== null && <span class="op-soft"> ({duration(now - room.started_at)} ago)</span>}
            </dd>
          </div>
          <div>
            <dt>Scheduled end</dt>
            <dd class={overtime ? "op-bad" : undefined}>
              {room.scheduled_end === null ? "none" : clock(room.scheduled_end)}
              {overtime && <span> (overtime)</span>}
            </dd>
          </div>
          <div>
            <dt>Bitrate up / down</dt>
            <dd>
              {kbps(room.bitrate_up_kbps)} / {kbps(room.bitrate_down_kbps)}
            </dd>
          </div>
          <div>
            <dt>Worst loss</dt>
            <dd>{pct(room.loss_pct)}</dd>
          </div>
        </dl>
        <RoomChart roomRef={ref} history={room.history} now={now} />
      </div>
      <div class="op-table-wrap" tabIndex={0} role="group" aria-label={`Connections in ${ref}`}>
        <table class="op-table">
          <caption class="sr-only">
            Connection quality of each participant in {ref}
            {view.onlyPoor ? " (poor connections only)" : ""}
          </caption>
          <thead>
            <tr>
              <th scope="col">Participant</th>
              <th scope="col">Rating</th>
              <th scope="col">Role</th>
              <th scope="col">State</th>
              <th scope="col">RTT</th>
              <th scope="col">Jitter</th>
              <th scope="col">Loss up</th>
              <th scope="col">Loss down</th>
              <th scope="col">Bitrate up</th>
              <th scope="col">Bitrate down</th>
              <th scope="col">ICE</th>
              <th scope="col">Downlink estimate</th>
              <th scope="col">Video layers received</th>
              <th scope="col">Videos paused</th>
              <th scope="col">Layers sent</th>
            </tr>
          </thead>
          <tbody>
            {people.length === 0 && (
              <tr>
                <td colSpan={15} class="op-soft">
                  {view.onlyPoor ? "No poor connections." : "Nobody connected."}
                </td>
              </tr>
            )}
            {people.map((p) => (
              <tr key={p.participant_ref} class={p.rating === "poor" ? "op-row-poor" : undefined}>
                <th scope="row" class="op-ref">
                  {p.participant_ref}
                </th>
                <td>
                  <RatingBadge rating={p.rating} />
                </td>
                <td>{p.role}</td>
                <td>{p.state}</td>
                <td>{ms(p.rtt_ms)}</td>
                <td>{ms(p.jitter_ms)}</td>
                <td>{pct(p.loss_up_pct)}</td>
                <td>{pct(p.loss_down_pct)}</td>
                <td>{kbps(p.bitrate_up_kbps)}</td>
                <td>{kbps(p.bitrate_down_kbps)}</td>
                <td>{p.candidate_type ?? UNKNOWN}</td>
                <td>{kbps(p.downlink_estimate_kbps)}</td>
                <td>{layersReceived(p.video_layers_received)}</td>
                <td>{videosPaused(p.videos_paused)}</td>
                <td>{layersPublished(p.layers_published)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
