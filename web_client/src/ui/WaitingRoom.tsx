import type { Session } from "../session";
import { needsGroundRules, type RoomState } from "../state/room";
import { Notice } from "./Notice";
import { VideoView } from "./Tile";

export function WaitingRoom({ session, state }: { session: Session; state: RoomState }) {
  const mustAccept = needsGroundRules(state);
  const hasVideo = session.local.track("video") !== null && state.me?.camera.on;
  return (
    <main class="page narrow waiting" aria-labelledby="waiting-title">
      {state.title && <p class="room-title">{state.title}</p>}
      <h1 id="waiting-title">You're in the waiting room</h1>
      <Notice session={session} state={state} />
      {mustAccept ? (
        <section class="ground-rules" aria-labelledby="rules-title">
          <h2 id="rules-title">Ground rules for this group</h2>
          <p class="lead">Please read these. The facilitator can let you in once you have accepted them.</p>
          <div class="rules-text" tabIndex={0}>
            {state.groundRules.split(/\n+/).map((line, i) => (
              <p key={i}>{line}</p>
            ))}
          </div>
          <button type="button" class="primary large" onClick={() => void session.acceptGroundRules()}>
            I accept the ground rules
          </button>
        </section>
      ) : (
        <div class="waiting-message" role="status">
          <span class="breathing-dot" aria-hidden="true" />
          <p class="lead">The facilitator will let you in shortly.</p>
          <p>You can keep this page open. You will join the group automatically.</p>
        </div>
      )}
      {hasVideo && (
        <div class="waiting-self">
          <VideoView stream={session.local.stream} self />
          <p class="fine-print">This is how you will look. Only you can see this now.</p>
        </div>
      )}
      <ConnectionBanner state={state} />
      <button type="button" class="secondary" onClick={() => void session.leave()}>
        Leave
      </button>
    </main>
  );
}

export function ConnectionBanner({ state }: { state: RoomState }) {
  if (state.connection !== "reconnecting") return null;
  const attempts = state.reconnectAttempts;
  return (
    <p class="callout warning reconnecting" role="status">
      Connection lost. Reconnecting…{attempts > 0 ? ` (attempt ${attempts})` : ""} You will keep your place.
    </p>
  );
}
