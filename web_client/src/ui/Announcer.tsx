import type { RoomState } from "../state/room";

/**
 * A live region for screen-reader users: "Your turn", "You're next", "Sam asked you to
 * unmute", chat messages (whichever panel is open: the chat list itself is not a live
 * region, so nothing is said twice). "The facilitator muted you" comes from the hearing
 * line, a live region of its own. Each announcement is a new element, so the same words
 * said twice are read twice.
 */
export function Announcer({ state }: { state: RoomState }) {
  const latest = state.announcement;
  return (
    <div id="announcements" class="sr-only" role="log" aria-live="polite" aria-label="Announcements">
      {latest !== null && <p key={latest.seq}>{latest.text}</p>}
    </div>
  );
}
