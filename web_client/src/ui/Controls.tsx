import { useState } from "preact/hooks";
import type { Session } from "../session";
import { facilitates } from "../protocol/types";
import {
  clockTime,
  floorHolder,
  floorLetsMeBeHeard,
  mayShareScreen,
  mayTurnOn,
  mutedByFacilitator,
  myCheckIn,
  nameOf,
  type RoomState,
} from "../state/room";
import { DevicesDialog } from "./Devices";
import { useLocalMediaVersion } from "./hooks";
import { InfoDialog } from "./Dialog";
import { CameraIcon, CameraOffIcon, CheckInIcon, DevicesIcon, HandIcon, ScreenIcon, LeaveIcon, MicIcon, MicOffIcon, RulesIcon } from "./icons";

/** One line that always says whether you can be heard. */
export function HearingStatus({ state }: { state: RoomState }) {
  const me = state.me;
  if (me === null) return null;
  let text: string;
  let tone: string;
  if (me.microphone.on && !floorLetsMeBeHeard(state)) {
    // The server drops our audio while someone else has the floor, even with the mic on.
    const holder = floorHolder(state);
    const why =
      holder === null
        ? "only the facilitators are heard in floor mode"
        : state.round !== null
          ? `it is ${nameOf(state, holder)}'s turn`
          : `${nameOf(state, holder)} has the floor`;
    text = `Your microphone is on, but no one can hear you right now: ${why}.`;
    tone = "held";
  } else if (me.microphone.on) {
    text = "Your microphone is on. Everyone can hear you.";
    tone = "live";
  } else if (mutedByFacilitator(state)) {
    text = mayTurnOn(state, "microphone")
      ? "The facilitator muted you. You can unmute when you are ready."
      : "The facilitator muted you. You can unmute when the facilitator allows it or asks you.";
    tone = "held";
  } else {
    text = "You are muted. No one can hear you.";
    tone = "muted";
  }
  return (
    <p class={`hearing ${tone}`} role="status" aria-live="polite">
      {me.microphone.on ? <MicIcon size={18} /> : <MicOffIcon size={18} />}
      <span>{text}</span>
    </p>
  );
}

export function Controls({ session, state }: { session: Session; state: RoomState }) {
  // The group's ground rules stay one click away for the whole session.
  const [readingRules, setReadingRules] = useState(false);
  const [choosingDevices, setChoosingDevices] = useState(false);
  const me = state.me;
  if (me === null) return null;
  const hasRules = state.groundRules.trim() !== "";
  const observer = me.role === "observer";
  const hasMic = session.local.track("audio") !== null;
  const hasCamera = session.local.track("video") !== null;
  const micOn = me.microphone.on;
  const cameraOn = me.camera.on;
  const mayUnmute = hasMic && mayTurnOn(state, "microphone");
  const mayCameraOn = hasCamera && mayTurnOn(state, "camera");
  return (
    <div class="controls" role="group" aria-label="Your controls">
      {!observer && (
        <button
          type="button"
          class={micOn ? "control" : "control off"}
          disabled={!micOn && !mayUnmute}
          title={!micOn && !mayUnmute ? (hasMic ? "The facilitator has to allow it" : "No microphone") : undefined}
          onClick={() => void session.setDevice("microphone", !micOn)}
        >
          {micOn ? <MicIcon /> : <MicOffIcon />}
          <span>{micOn ? "Mute microphone" : "Unmute microphone"}</span>
        </button>
      )}
      {!observer && (
        <button
          type="button"
          class={cameraOn ? "control" : "control off"}
          disabled={!cameraOn && !mayCameraOn}
          onClick={() => void session.setDevice("camera", !cameraOn)}
        >
          {cameraOn ? <CameraIcon /> : <CameraOffIcon />}
          <span>{cameraOn ? "Turn camera off" : "Turn camera on"}</span>
        </button>
      )}
      {!observer && (
        <button
          type="button"
          class={me.hand_raised ? "control raised" : "control"}
          onClick={() => void session.command(me.hand_raised ? "lower_hand" : "raise_hand", {})}
        >
          <HandIcon />
          <span>{me.hand_raised ? "Lower hand" : "Raise hand"}</span>
        </button>
      )}
      {mayShareScreen(state) && <ShareButton session={session} state={state} />}
      {!facilitates(me.role) && <CheckInButton session={session} state={state} />}
      {!observer && (hasMic || hasCamera) && (
        <button type="button" class="control" aria-haspopup="dialog" onClick={() => setChoosingDevices(true)}>
          <DevicesIcon />
          <span>Devices</span>
        </button>
      )}
      {hasRules && (
        <button type="button" class="control" aria-haspopup="dialog" onClick={() => setReadingRules(true)}>
          <RulesIcon />
          <span>Ground rules</span>
        </button>
      )}
      <button type="button" class="control leave" onClick={() => void session.leave()}>
        <LeaveIcon />
        <span>Leave</span>
      </button>
      {choosingDevices && <DevicesDialog session={session} onClose={() => setChoosingDevices(false)} />}
      {readingRules && hasRules && (
        <InfoDialog title="Our ground rules" onClose={() => setReadingRules(false)}>
          <div class="rules-text">
            {state.groundRules.split(/\n+/).map((line, i) => (
              <p key={i}>{line}</p>
            ))}
          </div>
        </InfoDialog>
      )}
    </div>
  );
}

/** Share a screen (facilitators; members when a facilitator allows it), or stop. */
function ShareButton({ session, state }: { session: Session; state: RoomState }) {
  useLocalMediaVersion(session); // re-render when our own share starts or stops
  const sharing = session.screen !== null;
  const someoneElse = state.screenSharerId !== null && state.screenSharerId !== state.me?.participant_id;
  return (
    <button
      type="button"
      class={sharing ? "control raised" : "control"}
      aria-pressed={sharing}
      disabled={!sharing && someoneElse}
      title={!sharing && someoneElse ? `${nameOf(state, state.screenSharerId ?? "")} is sharing their screen` : undefined}
      onClick={() => void (sharing ? session.stopScreenShare() : session.shareScreen())}
    >
      <ScreenIcon />
      <span>{sharing ? "Stop sharing" : "Share screen"}</span>
    </button>
  );
}

/** "Please check in with me": seen by the facilitators only, never by the group. */
function CheckInButton({ session, state }: { session: Session; state: RoomState }) {
  const open = myCheckIn(state);
  return (
    <>
      <button
        type="button"
        class={open === null ? "control" : "control raised"}
        aria-pressed={open !== null}
        aria-describedby="check-in-note"
        onClick={() => void session.command(open === null ? "request_check_in" : "cancel_check_in", {})}
      >
        <CheckInIcon />
        <span>{open === null ? "Ask to check in" : "Cancel check-in request"}</span>
      </button>
      <span id="check-in-note" class="sr-only">
        {open === null
          ? "Privately asks the facilitators to check in with you. Only they will see it."
          : `You asked the facilitators to check in with you at ${clockTime(open.requested_at)}. Only they can see it.`}
      </span>
    </>
  );
}

/** A facilitator asked us to switch something on: only we can do that. */
export function UnmutePrompt({ session, state }: { session: Session; state: RoomState }) {
  const device = state.unmuteRequest;
  if (device === null) return null;
  const what = device === "microphone" ? "unmute your microphone" : "turn your camera on";
  return (
    <div class="prompt" role="alertdialog" aria-labelledby="prompt-title" aria-describedby="prompt-body">
      <h2 id="prompt-title">The facilitator is asking you to {what}</h2>
      <p id="prompt-body">It is your choice. Nothing changes unless you agree.</p>
      <div class="dialog-actions">
        <button type="button" class="primary" onClick={() => void session.answerUnmuteRequest(true)}>
          {device === "microphone" ? "Unmute now" : "Yes, turn my camera on"}
        </button>
        <button type="button" class="secondary" onClick={() => void session.answerUnmuteRequest(false)}>
          {device === "microphone" ? "Stay muted" : "Keep my camera off"}
        </button>
      </div>
    </div>
  );
}
