// The facilitator's tools for structuring the session: the floor, go-around rounds, the
// balance of voices, the session clock, the ground rules and the audit trail. Every
// button sends one command; the state changes when the server's event arrives.

import { useState } from "preact/hooks";
import type { RoundOrder } from "../protocol/types";
import type { Session } from "../session";
import { formatClock, nameOf, notYetHeard, sessionSecondsLeft, type RoomState } from "../state/room";
import { Countdown } from "./Floor";
import { useNow } from "./hooks";

const TURN_CHOICES: { value: string; label: string }[] = [
  { value: "0", label: "No time limit" },
  { value: "60", label: "1 minute" },
  { value: "120", label: "2 minutes" },
  { value: "180", label: "3 minutes" },
  { value: "300", label: "5 minutes" },
];

const EXTEND_SECONDS = 60;

/** The floor and the go-around: who speaks now. */
export function SpeakingBlock({
  session,
  state,
  floorSeconds,
  onFloorSeconds,
}: {
  session: Session;
  state: RoomState;
  floorSeconds: number;
  onFloorSeconds: (seconds: number) => void;
}) {
  const [order, setOrder] = useState<RoundOrder>("join");
  const [chosen, setChosen] = useState<string[]>([]);
  const [turnSeconds, setTurnSeconds] = useState("120");
  // For a chosen order: the people who can speak, and the picks still in the room.
  const speakers = state.participants.filter((p) => p.role !== "observer");
  const picked = chosen.filter((id) => speakers.some((p) => p.participant_id === id));
  const run = session.command.bind(session);
  const round = state.round;
  const holder = state.floor.holder_id;
  return (
    <section aria-labelledby="speaking-title" class="console-block speaking">
      <h3 id="speaking-title">Who speaks</h3>
      {round !== null ? (
        <>
          <p class="console-now">
            <strong>
              {round.current_id === null ? "Between turns" : `${nameOf(state, round.current_id)}'s turn`}
            </strong>{" "}
            <Countdown endsAt={round.turn_ends_at} label="Time left in this turn" />
          </p>
          {round.next_id !== null && <p class="fine-print">Next: {nameOf(state, round.next_id)}</p>}
          <div class="button-row">
            <button type="button" class="secondary" onClick={() => void run("skip_turn", {})}>
              Skip turn
            </button>
            <button
              type="button"
              class="secondary"
              disabled={round.turn_ends_at === null}
              aria-describedby="extend-hint"
              onClick={() => void run("extend_turn", { seconds: EXTEND_SECONDS })}
            >
              Extend turn
            </button>
            <button type="button" class="secondary" onClick={() => void run("end_round", {})}>
              End round
            </button>
          </div>
          <p class="fine-print" id="extend-hint">
            Extend turn adds one minute. While the round runs, only the speaker and the facilitators can be heard.
          </p>
        </>
      ) : (
        <>
          <button
            type="button"
            class="secondary toggle"
            aria-pressed={state.floor.mode}
            aria-describedby="floor-mode-hint"
            onClick={() => void run("set_floor_mode", { on: !state.floor.mode })}
          >
            <span class="toggle-mark" aria-hidden="true" />
            <span>Floor mode</span>
          </button>
          <p class="fine-print" id="floor-mode-hint">
            In floor mode only the person with the floor and the facilitators can be heard.
          </p>
          {holder !== null ? (
            <div class="floor-holder">
              <p class="console-now">
                <strong>{nameOf(state, holder)} has the floor</strong>{" "}
                <Countdown endsAt={state.floor.ends_at} label="Time left with the floor" />
              </p>
              <button type="button" class="secondary" onClick={() => void run("take_back_floor", {})}>
                Take back floor
              </button>
            </div>
          ) : (
            <p class="empty">Nobody has been given the floor.</p>
          )}
          <label class="field">
            <span>Time with the floor</span>
            <select value={String(floorSeconds)} onChange={(e) => onFloorSeconds(Number(e.currentTarget.value))}>
              {TURN_CHOICES.map((c) => (
                <option key={c.value} value={c.value}>
                  {c.label}
                </option>
              ))}
            </select>
          </label>

          <h4 class="sub-title">Go-around</h4>
          <label class="field">
            <span>Order</span>
            <select value={order} onChange={(e) => setOrder(e.currentTarget.value as RoundOrder)}>
              <option value="join">The order people joined</option>
              <option value="shuffled">Shuffled</option>
              <option value="chosen">An order I choose</option>
            </select>
          </label>
          {order === "chosen" && (
            <fieldset class="field chosen-order">
              <legend>Tick people in the order they will speak</legend>
              {speakers.map((p) => {
                const place = picked.indexOf(p.participant_id);
                return (
                  <label key={p.participant_id} class="check">
                    <input
                      type="checkbox"
                      checked={place >= 0}
                      onChange={() =>
                        setChosen(
                          place >= 0
                            ? picked.filter((id) => id !== p.participant_id)
                            : [...picked, p.participant_id],
                        )
                      }
                    />
                    <span>
                      {place >= 0 ? `${place + 1}. ` : ""}
                      {p.display_name}
                    </span>
                  </label>
                );
              })}
            </fieldset>
          )}
          <label class="field">
            <span>Time for each turn</span>
            <select value={turnSeconds} onChange={(e) => setTurnSeconds(e.currentTarget.value)}>
              {TURN_CHOICES.map((c) => (
                <option key={c.value} value={c.value}>
                  {c.label}
                </option>
              ))}
            </select>
          </label>
          <button
            type="button"
            class="primary"
            disabled={order === "chosen" && picked.length === 0}
            onClick={() => {
              const seconds = Number(turnSeconds);
              void run("start_round", {
                order,
                ...(order === "chosen" ? { participant_ids: picked } : {}),
                ...(seconds > 0 ? { turn_seconds: seconds } : {}),
              });
            }}
          >
            Start round
          </button>
        </>
      )}
    </section>
  );
}

/** Who has been heard: gentle bars, no numbers, no ranking, and who has not spoken yet. */
export function BalanceBlock({ state }: { state: RoomState }) {
  const balance = state.talkBalance;
  if (balance === null) return null;
  const shares = new Map(balance.shares.map((s) => [s.participant_id, s]));
  const people = state.participants.filter((p) => p.role !== "observer" && shares.has(p.participant_id));
  const even = people.length > 0 ? 1 / people.length : 1;
  const quiet = notYetHeard(state);
  return (
    <section aria-labelledby="balance-title" class="console-block balance">
      <h3 id="balance-title">Balance of voices</h3>
      <p class="fine-print">Only facilitators see this. It is a rough picture, not a measure of anyone.</p>
      {quiet.length > 0 && <p class="not-heard">Not heard from yet: {quiet.join(", ")}</p>}
      <ul class="balance-list">
        {people.map((p) => {
          const share = shares.get(p.participant_id)!;
          const words = !share.has_spoken
            ? "not heard yet"
            : share.share < even * 0.5
              ? "a small share"
              : share.share <= even * 1.5
                ? "about an even share"
                : "a larger share";
          return (
            <li key={p.participant_id}>
              <span class="balance-name">
                {p.display_name}
                <span class="sr-only">: {words}</span>
              </span>
              <span class="balance-bar" aria-hidden="true">
                <span class="balance-fill" style={{ width: `${Math.round(Math.min(1, share.share) * 100)}%` }} />
              </span>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

/** The session clock, the ground rules (lead facilitator) and the audit trail. */
export function SessionBlock({ session, state }: { session: Session; state: RoomState }) {
  const lead = state.me?.role === "facilitator";
  const [endTime, setEndTime] = useState(() => clockTime(state.schedule.ends_at));
  const [hardEnd, setHardEnd] = useState(state.schedule.hard_end);
  const [rules, setRules] = useState<string | null>(null);
  const run = session.command.bind(session);
  const rulesText = rules ?? state.groundRules;
  const setEnd = (endsAt: number | null) =>
    void run("set_schedule", {
      starts_at: state.schedule.starts_at,
      late_cutoff_at: state.schedule.late_cutoff_at,
      ends_at: endsAt,
      hard_end: endsAt !== null && hardEnd,
    });
  return (
    <section aria-labelledby="session-title" class="console-block session">
      <h3 id="session-title">Session</h3>
      <div class="clock-form">
        <label class="field">
          <span>Ends at</span>
          <input type="time" value={endTime} onInput={(e) => setEndTime(e.currentTarget.value)} />
        </label>
        <label class="check">
          <input type="checkbox" checked={hardEnd} onChange={(e) => setHardEnd(e.currentTarget.checked)} />
          <span>End the session for everyone at that time</span>
        </label>
        <div class="button-row">
          <button type="button" class="secondary" disabled={endTime === ""} onClick={() => setEnd(nextOccurrence(endTime))}>
            Set end time
          </button>
          {state.schedule.ends_at !== null && (
            <button type="button" class="secondary" onClick={() => setEnd(null)}>
              Clear end time
            </button>
          )}
        </div>
        <p class="fine-print">Facilitators are reminded 10 and 2 minutes before the end.</p>
      </div>

      {lead && (
        <div class="rules-form">
          <label class="field">
            <span>Ground rules</span>
            <textarea rows={4} maxLength={5000} value={rulesText} onInput={(e) => setRules(e.currentTarget.value)} />
          </label>
          <button
            type="button"
            class="secondary"
            disabled={rules === null || rules.trim() === state.groundRules.trim()}
            onClick={() =>
              void run("set_ground_rules", { text: rulesText }).then((ok) => {
                if (ok) setRules(null);
              })
            }
          >
            Save ground rules
          </button>
          <p class="fine-print">People who are waiting will be asked to accept the new rules.</p>
        </div>
      )}

      <button type="button" class="secondary" onClick={() => void session.downloadAudit()}>
        Download audit trail
      </button>
      <p class="fine-print">What facilitators did in this session (admitted, muted, gave the floor…). No chat, no sound.</p>
    </section>
  );
}

/** For facilitators, in the header: time left until the scheduled end. */
export function SessionClock({ state }: { state: RoomState }) {
  const endsAt = state.schedule.ends_at;
  const now = useNow(endsAt !== null, 1000);
  const left = sessionSecondsLeft(state, now);
  if (left === null) return null;
  return (
    <span class="session-clock" role="timer" aria-label="Time left in the session">
      {left > 0 ? `${formatClock(left)} left` : "Past the end time"}
    </span>
  );
}

/** The calm 10- and 2-minute reminders, and "the end time has passed". */
export function ClockWarning({ session, state }: { session: Session; state: RoomState }) {
  const warning = state.clockWarning;
  if (warning === null) return null;
  const at = new Date(warning.ends_at * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const text =
    warning.minutes_left <= 0
      ? `The planned end time (${at}) has passed. Close when the group is ready.`
      : `About ${warning.minutes_left} minutes left: the session is planned to end at ${at}.`;
  return (
    <div role="status" class="notice-slot">
      <p class="notice calm">
        <span>{text}</span>
        <button type="button" class="link" onClick={() => session.dispatch({ type: "clock_warning_dismissed" })}>
          Dismiss
        </button>
      </p>
    </div>
  );
}

function clockTime(unixSeconds: number | null): string {
  if (unixSeconds === null) return "";
  const d = new Date(unixSeconds * 1000);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

/** "18:30" -> the next 18:30 by the local clock, in Unix seconds. */
export function nextOccurrence(hhmm: string, now: Date = new Date()): number {
  const [h, m] = hhmm.split(":").map(Number);
  const at = new Date(now);
  at.setHours(h, m, 0, 0);
  if (at.getTime() <= now.getTime()) at.setDate(at.getDate() + 1);
  return Math.floor(at.getTime() / 1000);
}
