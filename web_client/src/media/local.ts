// This browser's camera and microphone: the device check's preview and level meter,
// and the tracks the publish connection sends.

export interface DeviceChoice {
  cameraId: string | null;
  microphoneId: string | null;
}

export interface DeviceLists {
  cameras: MediaDeviceInfo[];
  microphones: MediaDeviceInfo[];
  /** Empty where the browser cannot choose where sound plays (no setSinkId). */
  speakers: MediaDeviceInfo[];
}

export type TrackKind = "audio" | "video";

// 960x540: the smallest picture for which Chrome encodes all three simulcast layers
// (240x135, 480x270, 960x540); from a 640x360 camera it sends two and drops the full
// one (its "legacy simulcast layer limit", measured in Chromium 156).
const VIDEO_CONSTRAINTS: MediaTrackConstraints = {
  width: { ideal: 960 },
  height: { ideal: 540 },
  frameRate: { ideal: 24, max: 30 },
};

/** Whether this browser lets a page choose where sound plays. */
export function canChooseSpeaker(): boolean {
  return typeof HTMLMediaElement !== "undefined" && "setSinkId" in HTMLMediaElement.prototype;
}

export class LocalMedia {
  stream: MediaStream | null = null;
  error: string | null = null;

  /** (Re)open the chosen devices; keeps what it can when one of them fails. */
  async open(choice: DeviceChoice): Promise<MediaStream | null> {
    this.close();
    const audio: MediaTrackConstraints | boolean = choice.microphoneId
      ? { deviceId: { exact: choice.microphoneId } }
      : true;
    const video: MediaTrackConstraints = {
      ...VIDEO_CONSTRAINTS,
      ...(choice.cameraId ? { deviceId: { exact: choice.cameraId } } : {}),
    };
    this.error = null;
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ audio, video });
    } catch (both) {
      // One device refused or missing: a person can still join with the other.
      const tracks: MediaStreamTrack[] = [];
      for (const constraints of [{ audio }, { video }]) {
        try {
          tracks.push(...(await navigator.mediaDevices.getUserMedia(constraints)).getTracks());
        } catch {
          /* reported below */
        }
      }
      this.stream = tracks.length > 0 ? new MediaStream(tracks) : null;
      this.error = describeMediaError(both, tracks);
    }
    return this.stream;
  }

  async devices(): Promise<DeviceLists> {
    if (!navigator.mediaDevices?.enumerateDevices) return { cameras: [], microphones: [], speakers: [] };
    const all = await navigator.mediaDevices.enumerateDevices();
    return {
      cameras: all.filter((d) => d.kind === "videoinput" && d.deviceId !== ""),
      microphones: all.filter((d) => d.kind === "audioinput" && d.deviceId !== ""),
      speakers: canChooseSpeaker() ? all.filter((d) => d.kind === "audiooutput" && d.deviceId !== "") : [],
    };
  }

  /** The device a track comes from, as enumerateDevices names it. */
  deviceId(kind: TrackKind): string | null {
    return this.track(kind)?.getSettings().deviceId ?? null;
  }

  /**
   * Replace one track with one from another device (null: the browser's default), in
   * the same stream, so whoever sends or shows the stream sends the new track. The new
   * track starts as enabled as the old one was: a muted microphone stays silent.
   */
  async replace(kind: TrackKind, deviceId: string | null): Promise<MediaStreamTrack> {
    const old = this.track(kind);
    const exact = deviceId === null ? {} : { deviceId: { exact: deviceId } };
    const constraints: MediaStreamConstraints =
      kind === "audio" ? { audio: deviceId === null ? true : exact } : { video: { ...VIDEO_CONSTRAINTS, ...exact } };
    // Many phones cannot run two cameras at once: let the old one go first. A microphone
    // is opened first, so a failure leaves the person with the one they had.
    if (kind === "video") old?.stop();
    const [track] = (await navigator.mediaDevices.getUserMedia(constraints)).getTracks();
    track.enabled = old?.enabled ?? false;
    const stream = this.stream ?? new MediaStream();
    if (old !== null) {
      stream.removeTrack(old);
      old.stop();
    }
    stream.addTrack(track);
    this.stream = stream;
    return track;
  }

  track(kind: "audio" | "video"): MediaStreamTrack | null {
    return this.stream?.getTracks().find((t) => t.kind === kind) ?? null;
  }

  /** Stop or resume sending; a stopped-sending track sends silence or black, never sound. */
  setSending(kind: "audio" | "video", on: boolean): void {
    const track = this.track(kind);
    if (track !== null) track.enabled = on;
  }

  close(): void {
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.stream = null;
  }
}

function describeMediaError(error: unknown, kept: MediaStreamTrack[]): string {
  const name = error instanceof DOMException ? error.name : "";
  const missing = ["audio", "video"].filter((kind) => !kept.some((t) => t.kind === kind));
  const what =
    missing.length === 2 ? "your camera and microphone" : missing[0] === "audio" ? "your microphone" : "your camera";
  if (missing.length === 0) return "";
  if (name === "NotAllowedError") {
    return `The browser is not allowed to use ${what}. You can allow it in the address bar, then choose "Check again".`;
  }
  if (name === "NotReadableError") return `Another app seems to be using ${what}. Close it, then choose "Check again".`;
  return `We could not find ${what}. You can still join, and others will see your name.`;
}

/** A level meter: 0..1, read by polling (the device check draws it). */
export class LevelMeter {
  private context: AudioContext | null = null;
  private analyser: AnalyserNode | null = null;
  private buffer: Uint8Array<ArrayBuffer> | null = null;

  attach(stream: MediaStream | null): void {
    this.detach();
    if (stream === null || stream.getAudioTracks().length === 0) return;
    try {
      this.context = new AudioContext();
      const source = this.context.createMediaStreamSource(stream);
      this.analyser = this.context.createAnalyser();
      this.analyser.fftSize = 512;
      source.connect(this.analyser);
      this.buffer = new Uint8Array(new ArrayBuffer(this.analyser.fftSize));
      void this.context.resume().catch(() => undefined);
    } catch {
      this.detach();
    }
  }

  level(): number {
    if (this.analyser === null || this.buffer === null) return 0;
    this.analyser.getByteTimeDomainData(this.buffer);
    let sum = 0;
    for (const sample of this.buffer) {
      const centred = (sample - 128) / 128;
      sum += centred * centred;
    }
    return Math.min(1, Math.sqrt(sum / this.buffer.length) * 4);
  }

  detach(): void {
    void this.context?.close().catch(() => undefined);
    this.context = null;
    this.analyser = null;
    this.buffer = null;
  }
}
