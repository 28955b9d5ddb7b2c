// What everyone sees of the floor and the go-around: whose turn it is, who is next,
// the time left, and, for the speaker, Done and Pass. Calm, plain words: a first-time
// member should always know whether they can be heard and what happens next.

import type { TurnOutcome } from "../protocol/types";
import type { Session } from "../session";
import {
  floorHolder,
  floorLetsMeBeHeard,
  formatClock,
  isFacilitator,
  nameOf,
  secondsLeft,
  turnSecondsLeft,
  youAreNext,
  type RoomState,
} from "../state/room";
import { useNow } from "./hooks";

const OUTCOME_WORDS: Record<TurnOutcome, string> = {
  done: "done",
  passed: "passed",
  skipped: "skipped",
  timed_out: "time ran out",
  left: "left",
};

export function outcomeWords(outcome: TurnOutcome): string {
  return OUTCOME_WORDS[outcome];
}

/** A ticking "1:42 left" (role=timer: assistive tech does not announce every second). */
export function Countdown({ endsAt, label }: { endsAt: number | null; label: string }) {
  const now = useNow(endsAt !== null);
  const left = secondsLeft(endsAt, now);
  if (left === null) return null;
  return (
    <span class="countdown" role="timer" aria-label={label}>
      {formatClock(left)} left
    </span>
  );
}

export function FloorBanner({ session, state }: { session: Session; state: RoomState }) {
  const me = state.me;
  if (me === null) return null;
  if (state.round !== null) return <RoundBanner session={session} state={state} />;
  const holder = floorHolder(state);
  const next = youAreNext(state);
  if (!state.floor.mode && holder === null && !next) return null;
  const mine = holder === me.participant_id;
  const heard = floorLetsMeBeHeard(state);
  return (
    <section class="floor-banner" aria-label="The floor">
      <div class="floor-line">
        <p class="floor-now">
          {holder === null ? (
            <strong>Floor mode: the facilitators are speaking</strong>
          ) : (
            <strong>{mine ? "You have the floor" : `${nameOf(state, holder)} has the floor`}</strong>
          )}
          {holder !== null && <Countdown endsAt={state.floor.ends_at} label="Time left with the floor" />}
        </p>
        {mine && (
          <button type="button" class="secondary small" onClick={() => void session.command("yield_floor", {})}>
            Hand back the floor
          </button>
        )}
      </div>
      {mine && <p class="floor-you">Everyone can hear you when your microphone is on.</p>}
      {!mine && next && <p class="floor-next">You're next. The facilitator will give you the floor.</p>}
      {!heard && !mine && (
        <p class="floor-quiet">
          You can't be heard right now: only {holder === null ? "" : `${nameOf(state, holder)} and `}the facilitators can.
        </p>
      )}
    </section>
  );
}

function RoundBanner({ session, state }: { session: Session; state: RoomState }) {
  const me = state.me!;
  const round = state.round!;
  const now = useNow(round.turn_ends_at !== null);
  const current = round.current_id;
  const mine = current === me.participant_id;
  const next = youAreNext(state);
  const left = turnSecondsLeft(state, now);
  const outcomes = new Map(round.outcomes);
  const warned = state.turnWarning !== null && state.turnWarning.participant_id === current;
  const facilitator = isFacilitator(state);
  return (
    <section class={mine ? "floor-banner round mine" : "floor-banner round"} aria-label="Go-around">
      <div class="floor-line">
        <p class="floor-now">
          <span class="round-label">Go-around</span>
          <strong class="whose-turn">
            {current === null ? "Between turns" : mine ? "Your turn" : `${nameOf(state, current)}'s turn`}
          </strong>
          {left !== null && (
            <span class="countdown" role="timer" aria-label="Time left in this turn">
              {formatClock(left)} left
            </span>
          )}
        </p>
        {round.next_id !== null && (
          <p class="round-next">
            Next: <strong>{round.next_id === me.participant_id ? "you" : nameOf(state, round.next_id)}</strong>
          </p>
        )}
      </div>
      {mine && (
        <div class="turn-actions">
          <p class="floor-you">
            {me.microphone.on
              ? "Everyone can hear you. Take your time; say Done when you have finished, or Pass."
              : "Unmute your microphone when you are ready to speak, or Pass."}
          </p>
          <div class="turn-buttons">
            <button type="button" class="primary" onClick={() => void session.command("finish_turn", { passed: false })}>
              Done
            </button>
            <button type="button" class="secondary" onClick={() => void session.command("finish_turn", { passed: true })}>
              Pass
            </button>
          </div>
        </div>
      )}
      {warned && (mine || facilitator) && (
        <p class="turn-warning" role="status">
          {mine ? "Your turn ends in about 15 seconds." : `${nameOf(state, current!)}'s turn ends in about 15 seconds.`}
        </p>
      )}
      {!mine && next && <p class="floor-next">You're next.</p>}
      {!mine && !facilitator && me.role !== "observer" && (
        <p class="floor-quiet">While it is someone else's turn, only they and the facilitators can be heard.</p>
      )}
      <ol class="round-order" aria-label="Speaking order">
        {round.order.map((id) => {
          const outcome = outcomes.get(id);
          const status =
            id === current ? "speaking now" : id === round.next_id ? "next" : outcome !== undefined ? outcomeWords(outcome) : "";
          const who = id === me.participant_id ? `${nameOf(state, id)} (you)` : nameOf(state, id);
          return (
            <li key={id} class={`round-person ${id === current ? "current" : outcome !== undefined ? "finished" : ""}`}>
              <span class="round-name">{who}</span>
              {status && <span class="round-status">{status}</span>}
            </li>
          );
        })}
      </ol>
    </section>
  );
}
