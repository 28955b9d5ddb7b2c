import { useEffect, useRef, useState } from "preact/hooks";
import { LevelMeter, type DeviceLists } from "../media/local";
import type { Session } from "../session";
import { VideoView } from "./Tile";

const ROLE_NAMES: Record<string, string> = {
  facilitator: "facilitator",
  cofacilitator: "co-facilitator",
  member: "member",
  observer: "observer",
};

export function DeviceCheck({ session }: { session: Session }) {
  const claims = session.claims;
  const [stream, setStream] = useState<MediaStream | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [devices, setDevices] = useState<DeviceLists>({ cameras: [], microphones: [], speakers: [] });
  const [cameraId, setCameraId] = useState<string | null>(null);
  const [microphoneId, setMicrophoneId] = useState<string | null>(null);
  const [microphone, setMicrophone] = useState(true);
  const [camera, setCamera] = useState(true);
  const [checking, setChecking] = useState(true);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    let cancelled = false;
    setChecking(true);
    session.local
      .open({ cameraId, microphoneId })
      .then(async (opened) => {
        if (cancelled) return;
        setStream(opened);
        setError(session.local.error);
        setDevices(await session.local.devices());
      })
      .finally(() => !cancelled && setChecking(false));
    return () => {
      cancelled = true;
    };
  }, [session, cameraId, microphoneId, attempt]);

  const hasAudio = stream !== null && stream.getAudioTracks().length > 0;
  const hasVideo = stream !== null && stream.getVideoTracks().length > 0;
  const expired = claims !== null && claims.expiresAt > 0 && claims.expiresAt * 1000 < Date.now();

  return (
    <main class="page narrow" aria-labelledby="check-title">
      <h1 id="check-title">Before you join</h1>
      <p class="lead">
        You will join as <strong class="join-name">{claims?.name ?? "a guest"}</strong>
        {claims !== null && claims.role !== "member" && <> ({ROLE_NAMES[claims.role] ?? claims.role})</>}.
      </p>
      {expired && (
        <p class="callout warning" role="status">
          This link looks out of date. You can still try; if it does not work, ask your facilitator for a new one.
        </p>
      )}
      <div class="preview">
        <div class="preview-video">
          {hasVideo && camera ? (
            <VideoView stream={stream} self />
          ) : (
            <p class="preview-empty">{checking ? "Starting your camera…" : hasVideo ? "Camera off" : "No camera"}</p>
          )}
        </div>
        <Meter stream={hasAudio && microphone ? stream : null} />
      </div>
      {error && (
        <div class="callout" role="alert">
          <p>{error}</p>
          <button type="button" class="secondary" onClick={() => setAttempt((n) => n + 1)}>
            Check again
          </button>
        </div>
      )}
      <fieldset class="devices">
        <legend>Your camera and microphone</legend>
        <label>
          Camera
          <select
            value={cameraId ?? session.local.track("video")?.getSettings().deviceId ?? ""}
            onChange={(e) => setCameraId((e.target as HTMLSelectElement).value || null)}
            disabled={devices.cameras.length === 0}
          >
            {devices.cameras.length === 0 && <option value="">No camera found</option>}
            {devices.cameras.map((d, i) => (
              <option value={d.deviceId} key={d.deviceId}>
                {d.label || `Camera ${i + 1}`}
              </option>
            ))}
          </select>
        </label>
        <label>
          Microphone
          <select
            value={microphoneId ?? session.local.track("audio")?.getSettings().deviceId ?? ""}
            onChange={(e) => setMicrophoneId((e.target as HTMLSelectElement).value || null)}
            disabled={devices.microphones.length === 0}
          >
            {devices.microphones.length === 0 && <option value="">No microphone found</option>}
            {devices.microphones.map((d, i) => (
              <option value={d.deviceId} key={d.deviceId}>
                {d.label || `Microphone ${i + 1}`}
              </option>
            ))}
          </select>
        </label>
        <label class="check">
          <input
            type="checkbox"
            checked={microphone && hasAudio}
            disabled={!hasAudio}
            onChange={(e) => setMicrophone((e.target as HTMLInputElement).checked)}
          />
          Microphone on when I join
        </label>
        <label class="check">
          <input
            type="checkbox"
            checked={camera && hasVideo}
            disabled={!hasVideo}
            onChange={(e) => setCamera((e.target as HTMLInputElement).checked)}
          />
          Camera on when I join
        </label>
      </fieldset>
      <button
        type="button"
        class="primary large"
        disabled={checking}
        onClick={() => session.join({ cameraId, microphoneId, microphone: microphone && hasAudio, camera: camera && hasVideo })}
      >
        Join
      </button>
      <p class="fine-print">Nothing is recorded. Only the people in this session see and hear you.</p>
    </main>
  );
}

function Meter({ stream }: { stream: MediaStream | null }) {
  const bar = useRef<HTMLDivElement>(null);
  const gauge = useRef<HTMLDivElement>(null);
  const [heard, setHeard] = useState(false);
  useEffect(() => {
    const meter = new LevelMeter();
    meter.attach(stream);
    let frame = 0;
    let loudFrames = 0;
    const draw = () => {
      const level = meter.level();
      if (bar.current !== null) bar.current.style.transform = `scaleX(${level.toFixed(3)})`;
      // The value for assistive technology, in tenths: it changes only when it means something.
      const tenths = (Math.round(level * 10) / 10).toFixed(1);
      if (gauge.current !== null && gauge.current.getAttribute("aria-valuenow") !== tenths) {
        gauge.current.setAttribute("aria-valuenow", tenths);
      }
      if (level > 0.08 && ++loudFrames === 5) setHeard(true);
      frame = requestAnimationFrame(draw);
    };
    frame = requestAnimationFrame(draw);
    return () => {
      cancelAnimationFrame(frame);
      meter.detach();
    };
  }, [stream]);
  return (
    <div class="meter-block">
      <span id="meter-label" class="meter-label">
        {stream === null ? "Microphone off" : heard ? "We can hear your microphone" : "Say something to test your microphone"}
      </span>
      <div
        class="meter"
        role="meter"
        ref={gauge}
        aria-labelledby="meter-label"
        aria-valuemin={0}
        aria-valuemax={1}
        aria-valuenow={0}
      >
        <div class="meter-fill" ref={bar} />
      </div>
    </div>
  );
}
