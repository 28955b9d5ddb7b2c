import { useEffect, useRef, useState } from "preact/hooks";
import type { ParticipantView, VideoPause } from "../protocol/types";
import { CameraOffIcon, HandIcon, MicOffIcon } from "./icons";

interface VideoProps {
  stream: MediaStream | null;
  /** Told whether frames are showing (a tile shows initials until they do). */
  onShowing?: (showing: boolean) => void;
  /** Our own view: never play it back (echo) and mirror it like a mirror. */
  self?: boolean;
  /** The audio output to play on (setSinkId); null: the default. */
  sinkId?: string | null;
}

export function VideoView({ stream, self = false, onShowing, sinkId = null }: VideoProps) {
  const ref = useRef<HTMLVideoElement>(null);
  const [blocked, setBlocked] = useState(false);
  useEffect(() => {
    const video = ref.current as (HTMLVideoElement & { setSinkId?: (id: string) => Promise<void> }) | null;
    if (video === null || self || video.setSinkId === undefined) return;
    // "" is the default output; a device that has gone is replaced by the session.
    video.setSinkId(sinkId ?? "").catch((error: unknown) => console.warn("could not choose the speaker:", error));
  }, [sinkId, self]);
  useEffect(() => {
    const video = ref.current;
    if (video === null || onShowing === undefined) return;
    const update = () => onShowing(video.videoWidth > 0);
    const events = ["loadeddata", "resize", "emptied", "playing"];
    for (const name of events) video.addEventListener(name, update);
    update();
    return () => {
      for (const name of events) video.removeEventListener(name, update);
    };
  }, [onShowing]);
  useEffect(() => {
    const video = ref.current;
    if (video === null) return;
    if (video.srcObject !== stream) video.srcObject = stream;
    if (stream === null) return;
    video.play().catch(() => {
      // Autoplay with sound refused (no click on this page yet): play silently, offer sound.
      if (!self) {
        video.muted = true;
        setBlocked(true);
        void video.play().catch(() => undefined);
      }
    });
  }, [stream, self]);
  const unblock = () => {
    const video = ref.current;
    if (video === null) return;
    video.muted = false;
    void video.play();
    setBlocked(false);
  };
  return (
    <>
      <video ref={ref} autoplay playsInline muted={self} class={self ? "mirrored" : undefined} />
      {blocked && (
        <button type="button" class="sound-button" onClick={unblock}>
          Turn on sound
        </button>
      )}
    </>
  );
}

interface TileProps {
  participant: ParticipantView;
  stream: MediaStream | null;
  self?: boolean;
  speaking: boolean;
  handPosition: number | null;
  /** "Their turn", "Has the floor", "Next": where they are in who speaks. */
  turnNote?: string | null;
  /** Shown large on every screen. */
  spotlighted?: boolean;
  sinkId?: string | null;
  /** Why the server sends none of their video now (their camera is on). */
  videoPause?: VideoPause | null;
  /** Tell the session where this remote tile is, so it reports what we show. */
  watch?: (participantId: string, element: Element) => () => void;
}

export function Tile({
  participant,
  stream,
  self = false,
  speaking,
  handPosition,
  turnNote = null,
  spotlighted = false,
  sinkId = null,
  videoPause = null,
  watch,
}: TileProps) {
  const name = participant.display_name;
  const [showing, setShowing] = useState(false);
  const tileRef = useRef<HTMLElement>(null);
  const participantId = participant.participant_id;
  useEffect(() => {
    const element = tileRef.current;
    if (element === null || watch === undefined || self) return;
    return watch(participantId, element);
  }, [participantId, watch, self]);
  const cameraOff = !participant.camera.on;
  // Paused: the last frame would freeze there; their initials show instead.
  const paused = !cameraOff && videoPause !== null;
  const micOff = !participant.microphone.on;
  const classes = [
    "tile",
    speaking && !micOff ? "speaking" : "",
    cameraOff ? "camera-off" : "",
    turnNote !== null && turnNote !== "Next" ? "has-floor" : "",
    spotlighted ? "spotlighted" : "",
    participant.reconnecting === true ? "reconnecting" : "",
    paused ? "video-paused" : "",
  ];
  return (
    <section ref={tileRef} class={classes.join(" ")} aria-label={name}>
      <VideoView stream={stream} self={self} onShowing={setShowing} sinkId={sinkId} />
      {(cameraOff || !showing || paused) && (
        <div class="tile-placeholder" aria-hidden="true">
          <span class="initials">{initials(name)}</span>
        </div>
      )}
      {paused && videoPause === "bandwidth" && <p class="tile-paused">Video paused to keep audio clear</p>}
      {handPosition !== null && (
        <p class="tile-hand">
          <HandIcon size={18} /> Hand raised{handPosition > 0 ? ` (${ordinal(handPosition)})` : ""}
        </p>
      )}
      {turnNote !== null && <p class="tile-turn">{turnNote}</p>}
      {participant.reconnecting === true && (
        <p class="tile-reconnecting" role="status">
          Reconnecting…
        </p>
      )}
      <p class="tile-label">
        <span class="tile-name">
          {name}
          {self && <span class="you"> (you)</span>}
        </span>
        {spotlighted && <span class="badge spotlight-badge">Spotlight</span>}
        {speaking && !micOff && <span class="badge speaking-badge">Speaking</span>}
        {micOff && (
          <span class="status-icon" title="Microphone off">
            <MicOffIcon size={16} />
            <span class="sr-only">Microphone off</span>
          </span>
        )}
        {cameraOff && (
          <span class="status-icon" title="Camera off">
            <CameraOffIcon size={16} />
            <span class="sr-only">Camera off</span>
          </span>
        )}
      </p>
    </section>
  );
}

export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? [words[0][0], words[words.length - 1][0]] : [words[0]?.[0] ?? "?"];
  return letters.join("").toUpperCase();
}

export function ordinal(n: number): string {
  const suffix = n % 100 >= 11 && n % 100 <= 13 ? "th" : ["th", "st", "nd", "rd"][n % 10] ?? "th";
  return `${n}${suffix}`;
}
