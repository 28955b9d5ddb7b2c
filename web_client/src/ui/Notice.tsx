import type { Session } from "../session";
import type { RoomState } from "../state/room";

/** The one passing message (a refused command, an answer to a request). */
export function Notice({ session, state }: { session: Session; state: RoomState }) {
  if (state.notice === null) return <div role="status" class="notice-slot" />;
  return (
    <div role="status" class="notice-slot">
      <p class="notice">
        <span>{state.notice}</span>
        <button type="button" class="link" onClick={() => session.dispatch({ type: "notice_dismissed" })}>
          Dismiss
        </button>
      </p>
    </div>
  );
}
