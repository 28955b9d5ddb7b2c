// The two peer connections of one participant (signaling/media.py): we offer on the
// publish connection; the server offers on the subscribe connection whenever the set of
// forwarded tracks changes, and each offer's `tracks` says whose media each mid carries.

import type { SignalingClient } from "../protocol/client";
import type { ForwardedTrack, ServerEvents } from "../protocol/types";
import { cameraEncodingChoices, PublishLayers } from "./simulcast";

const ICE_GATHERING_TIMEOUT_MS = 4000;
// "disconnected" often heals by itself; this long and it counts as failed.
const DISCONNECTED_MS = 5000;

/** How our peer connections are doing: one failed, or one is connected. */
export type MediaHealth = "failed" | "connected";

export type RemoteStreams = ReadonlyMap<string, MediaStream>;

export interface VideoInbound {
  packetsReceived: number;
  bytesReceived: number;
  framesReceived: number;
  framesDecoded: number;
  /** Of the frame decoded last (the layer being received). */
  frameWidth: number;
  frameHeight: number;
  framesPerSecond: number;
  freezeCount: number;
}

export interface AudioInbound {
  packetsReceived: number;
  bytesReceived: number;
  totalSamplesReceived: number;
  /** Samples the decoder made up for lost or late packets. */
  concealedSamples: number;
}

export interface InboundStats {
  audio: AudioInbound | null;
  video: VideoInbound | null;
  /** Their shared screen. */
  screen: VideoInbound | null;
}

/** One layer of our camera as the encoder sends it (for tests and support). */
export interface LayerOutbound {
  rid: string;
  active: boolean;
  frameWidth: number;
  framesEncoded: number;
  bytesSent: number;
}

export class PeerMedia {
  private publishPc: RTCPeerConnection | null = null;
  private subscribePc: RTCPeerConnection | null = null;
  private tracks: ForwardedTrack[] = [];
  private streams = new Map<string, MediaStream>();
  private screens = new Map<string, MediaStream>();
  private offers: Promise<void> = Promise.resolve();
  /** Publish negotiations run one at a time (the first, then screen shares). */
  private publishing: Promise<unknown> = Promise.resolve();
  private screenTransceiver: RTCRtpTransceiver | null = null;
  /** The camera's layers, when it went out as simulcast. */
  private cameraLayers: PublishLayers | null = null;
  private closed = false;

  constructor(
    private readonly client: SignalingClient,
    private readonly onStreams: (streams: RemoteStreams) => void,
    private readonly onFailure: (message: string) => void,
    /** Everyone's shared screen (at most one at a time), by participant. */
    private readonly onScreens: (screens: RemoteStreams) => void = () => undefined,
    private iceServers: RTCIceServer[] = [],
    private readonly onHealth: (health: MediaHealth) => void = () => undefined,
    /** The server has our subscribe connection (it forgets our view with the old one). */
    private readonly onSubscribed: () => void = () => undefined,
  ) {}

  private configuration(): RTCConfiguration {
    return { bundlePolicy: "max-bundle", iceServers: this.iceServers };
  }

  /** Fresh TURN credentials: used by ICE restarts and any connection made from now on. */
  setIceServers(servers: RTCIceServer[]): void {
    this.iceServers = servers;
    for (const pc of [this.publishPc, this.subscribePc]) {
      if (pc === null || pc.signalingState === "closed") continue;
      try {
        pc.setConfiguration({ ...pc.getConfiguration(), iceServers: servers });
      } catch (error) {
        // The relay already allocated keeps working with the old credential.
        console.warn("could not update ICE servers:", String(error));
      }
    }
  }

  /** Publish our tracks (if any) and subscribe to the room's. */
  async start(local: MediaStream | null, publish: boolean): Promise<void> {
    const subscribe = new RTCPeerConnection(this.configuration());
    this.subscribePc = subscribe;
    this.watch(subscribe);
    subscribe.ontrack = () => this.remap();
    // The first offer may arrive before the subscribe ack: the connection exists first.
    await this.client.request("subscribe", {});
    if (!this.closed) this.onSubscribed();
    if (publish && local !== null && local.getTracks().length > 0) {
      await this.serially(() => this.publish(local));
    }
  }

  private serially<T>(step: () => Promise<T>): Promise<T> {
    const run = this.publishing.then(step);
    this.publishing = run.catch(() => undefined);
    return run;
  }

  private async publish(local: MediaStream): Promise<void> {
    const pc = new RTCPeerConnection(this.configuration());
    this.publishPc = pc;
    this.watch(pc);
    for (const track of local.getTracks()) {
      // The stream id tells the server nothing: it labels forwarded tracks with our id.
      if (track.kind === "video") this.addCamera(pc, track, local);
      else pc.addTransceiver(track, { direction: "sendonly", streams: [local] });
    }
    await this.offerToPublish(pc);
  }

  /** The camera as simulcast layers where the browser takes them, else as one stream. */
  private addCamera(pc: RTCPeerConnection, track: MediaStreamTrack, local: MediaStream): void {
    for (const sendEncodings of cameraEncodingChoices()) {
      try {
        const transceiver = pc.addTransceiver(track, { direction: "sendonly", streams: [local], sendEncodings });
        this.cameraLayers = new PublishLayers(transceiver.sender);
        return;
      } catch (error) {
        console.warn("camera layers refused, trying fewer features:", String(error));
      }
    }
    pc.addTransceiver(track, { direction: "sendonly", streams: [local] });
  }

  /**
   * The server says which of our camera's layers anyone receives (`publish_layers`):
   * the others stop at the encoder. Applied one at a time, the newest last.
   */
  setPublishLayers(active: Partial<Record<string, boolean>>): void {
    const layers = this.cameraLayers;
    if (layers === null || this.closed) return;
    layers.set(active).catch((error: unknown) => {
      if (!this.closed) console.warn("could not switch camera layers:", String(error));
    });
  }

  /** Our camera's layers as sent now, lowest first (empty: not simulcast, or no camera). */
  async outboundLayers(): Promise<LayerOutbound[]> {
    const pc = this.publishPc;
    const layers = this.cameraLayers;
    if (pc === null || layers === null) return [];
    const active = new Set(layers.active());
    const byRid = new Map<string, LayerOutbound>();
    const report = await pc.getStats();
    report.forEach((stat: Record<string, unknown>) => {
      if (stat.type !== "outbound-rtp" || stat.kind !== "video" || typeof stat.rid !== "string") return;
      byRid.set(stat.rid, {
        rid: stat.rid,
        active: active.has(stat.rid),
        frameWidth: Number(stat.frameWidth ?? 0),
        framesEncoded: Number(stat.framesEncoded ?? 0),
        bytesSent: Number(stat.bytesSent ?? 0),
      });
    });
    return [...byRid.values()];
  }

  /** Offer the publish connection as it is now; the screen's section is named when there is one. */
  private async offerToPublish(pc: RTCPeerConnection): Promise<void> {
    await pc.setLocalDescription(await pc.createOffer());
    await gatheringComplete(pc);
    if (this.closed) return;
    const screenMid = this.screenTransceiver?.mid ?? null;
    const answer = await this.client.request("publish", {
      sdp: pc.localDescription?.sdp ?? "",
      type: "offer",
      ...(screenMid === null ? {} : { screen_mid: screenMid }),
    });
    if (this.closed) return;
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  }

  /**
   * Send a shared screen as a third track: a video transceiver of its own, named to
   * the server as the screen (which forwards it only while the room says we share).
   * The same transceiver carries every later share.
   */
  shareScreen(track: MediaStreamTrack): Promise<void> {
    return this.serially(async () => {
      const pc = this.publishPc;
      if (pc === null || this.closed) throw new Error("not publishing");
      const existing = this.screenTransceiver;
      if (existing === null) {
        const stream = new MediaStream([track]);
        this.screenTransceiver = pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
      } else {
        await existing.sender.replaceTrack(track);
        existing.direction = "sendonly";
      }
      await this.offerToPublish(pc);
    });
  }

  /** Stop sending the screen: its section goes inactive, and the room stops showing it. */
  stopScreen(): Promise<void> {
    return this.serially(async () => {
      const pc = this.publishPc;
      const transceiver = this.screenTransceiver;
      if (pc === null || transceiver === null || this.closed || transceiver.direction === "inactive") return;
      await transceiver.sender.replaceTrack(null);
      transceiver.direction = "inactive";
      await this.offerToPublish(pc);
    });
  }

  /**
   * Send another track of the same kind on the publish connection (another microphone
   * or camera): RTCRtpSender.replaceTrack needs no renegotiation, so nobody sees a
   * leave or a join. False when there is no sender of that kind yet (the track then
   * goes out with the first publish).
   */
  async replaceTrack(track: MediaStreamTrack): Promise<boolean> {
    const transceiver = this.sending(track.kind);
    if (transceiver === undefined) return false;
    await transceiver.sender.replaceTrack(track);
    return true;
  }

  /** The transceiver that sends our microphone or camera (never the screen's). */
  private sending(kind: string): RTCRtpTransceiver | undefined {
    return this.publishPc
      ?.getTransceivers()
      .find((t) => t !== this.screenTransceiver && t.receiver.track.kind === kind && t.direction === "sendonly");
  }

  /**
   * How many frames of the camera track being sent have reached the encoder (the
   * media-source `frames` counter; media/cameraCheck.ts). Null when we cannot tell:
   * no camera sender, no such counter in this browser, or every layer paused.
   */
  async cameraSourceFrames(): Promise<number | null> {
    const sender = this.sending("video")?.sender;
    const track = sender?.track;
    if (sender === undefined || track === null || track === undefined || this.closed) return null;
    if (this.cameraLayers !== null && this.cameraLayers.active().length === 0) return null;
    let frames: number | null = null;
    (await sender.getStats()).forEach((stat: Record<string, unknown>) => {
      if (stat.type === "media-source" && stat.trackIdentifier === track.id && typeof stat.frames === "number") {
        frames = stat.frames;
      }
    });
    return frames;
  }

  /** Report a connection that failed, or stayed disconnected too long, or connected. */
  private watch(pc: RTCPeerConnection): void {
    let timer: ReturnType<typeof setTimeout> | undefined;
    pc.addEventListener("connectionstatechange", () => {
      clearTimeout(timer);
      if (this.closed) return;
      const state = pc.connectionState;
      if (state === "failed") this.onHealth("failed");
      if (state === "connected") this.onHealth("connected");
      if (state === "disconnected") {
        timer = setTimeout(() => {
          if (!this.closed && pc.connectionState === "disconnected") this.onHealth("failed");
        }, DISCONNECTED_MS);
      }
    });
  }

  /** Answer one subscriber offer; offers are answered strictly in order. */
  handleOffer(offer: ServerEvents["subscriber_offer"]): void {
    this.offers = this.offers
      .then(() => this.answer(offer))
      .catch((error: unknown) => {
        if (!this.closed) this.onFailure(`Could not receive the group's video: ${String(error)}`);
      });
  }

  private async answer(offer: ServerEvents["subscriber_offer"]): Promise<void> {
    const pc = this.subscribePc;
    if (pc === null || this.closed) return;
    // Before setRemoteDescription: its track events already map by the new offer's mids.
    this.tracks = offer.tracks;
    await pc.setRemoteDescription({ type: "offer", sdp: offer.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await gatheringComplete(pc);
    if (this.closed) return;
    await this.client.request("subscriber_answer", {
      sdp: pc.localDescription?.sdp ?? "",
      type: "answer",
      revision: offer.revision,
    });
    this.remap();
  }

  /** Group the subscribe connection's receivers into one stream per participant. */
  private remap(): void {
    const pc = this.subscribePc;
    if (pc === null) return;
    const byParticipant = new Map<string, MediaStreamTrack[]>();
    const screensBy = new Map<string, MediaStreamTrack[]>();
    for (const transceiver of pc.getTransceivers()) {
      const forwarded = this.tracks.find((t) => t.mid === transceiver.mid);
      if (forwarded === undefined) continue;
      const into = forwarded.screen ? screensBy : byParticipant;
      const list = into.get(forwarded.participant_id) ?? [];
      list.push(transceiver.receiver.track);
      into.set(forwarded.participant_id, list);
    }
    const [streams, changed] = regroup(this.streams, byParticipant);
    this.streams = streams;
    if (changed) this.onStreams(streams);
    const [screens, screensChanged] = regroup(this.screens, screensBy);
    this.screens = screens;
    if (screensChanged) this.onScreens(screens);
  }

  /** Inbound RTP counters per publisher, for tests and a connection-quality view. */
  async inboundStats(): Promise<Record<string, InboundStats>> {
    const pc = this.subscribePc;
    const result: Record<string, InboundStats> = {};
    if (pc === null) return result;
    const byTrackId = new Map<string, string>();
    for (const transceiver of pc.getTransceivers()) {
      const forwarded = this.tracks.find((t) => t.mid === transceiver.mid);
      if (forwarded !== undefined) byTrackId.set(transceiver.receiver.track.id, forwarded.participant_id);
    }
    const report = await pc.getStats();
    report.forEach((stat: Record<string, unknown>) => {
      if (stat.type !== "inbound-rtp") return;
      const mid = typeof stat.mid === "string" ? stat.mid : undefined;
      const forwarded = this.tracks.find((t) => t.mid === mid);
      const participantId = forwarded?.participant_id ?? byTrackId.get(String(stat.trackIdentifier));
      if (participantId === undefined) return;
      // A publisher who reconnected arrives on a new SSRC, and the old stream's stats may
      // linger: sum them, so the counters only ever rise.
      const entry = (result[participantId] ??= { audio: null, video: null, screen: null });
      const count = (name: string): number => Number(stat[name] ?? 0);
      if (stat.kind === "audio") {
        const audio = (entry.audio ??= {
          packetsReceived: 0,
          bytesReceived: 0,
          totalSamplesReceived: 0,
          concealedSamples: 0,
        });
        audio.packetsReceived += count("packetsReceived");
        audio.bytesReceived += count("bytesReceived");
        audio.totalSamplesReceived += count("totalSamplesReceived");
        audio.concealedSamples += count("concealedSamples");
      } else {
        const video = forwarded?.screen ? (entry.screen ??= noVideo()) : (entry.video ??= noVideo());
        video.packetsReceived += count("packetsReceived");
        video.bytesReceived += count("bytesReceived");
        video.framesReceived += count("framesReceived");
        video.framesDecoded += count("framesDecoded");
        video.freezeCount += count("freezeCount");
        // The size and rate now: of the stream that receives the most (an old one is idle).
        if (count("framesPerSecond") >= video.framesPerSecond || video.frameWidth === 0) {
          video.frameWidth = count("frameWidth");
          video.frameHeight = count("frameHeight");
          video.framesPerSecond = count("framesPerSecond");
        }
      }
    });
    return result;
  }

  close(): void {
    this.closed = true;
    this.cameraLayers = null;
    this.publishPc?.close();
    this.subscribePc?.close();
    this.publishPc = null;
    this.subscribePc = null;
    this.streams = new Map();
    this.onStreams(this.streams);
    this.screens = new Map();
    this.onScreens(this.screens);
  }
}

function noVideo(): VideoInbound {
  return {
    packetsReceived: 0,
    bytesReceived: 0,
    framesReceived: 0,
    framesDecoded: 0,
    frameWidth: 0,
    frameHeight: 0,
    framesPerSecond: 0,
    freezeCount: 0,
  };
}

/** One stream per participant; the previous stream object is kept while its tracks are
 * the same (a new object makes a <video> reload). Whether anything changed. */
function regroup(
  previous: Map<string, MediaStream>,
  tracksBy: Map<string, MediaStreamTrack[]>,
): [Map<string, MediaStream>, boolean] {
  const next = new Map<string, MediaStream>();
  let changed = tracksBy.size !== previous.size;
  for (const [participantId, tracks] of tracksBy) {
    const before = previous.get(participantId);
    const same =
      before !== undefined &&
      before.getTracks().length === tracks.length &&
      tracks.every((t) => before.getTracks().includes(t));
    next.set(participantId, same ? before : new MediaStream(tracks));
    changed ||= !same;
  }
  return [next, changed];
}

/** The server (aiortc) takes no trickled candidates it needs: send complete descriptions. */
function gatheringComplete(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = (): void => {
      if (pc.iceGatheringState === "complete") done();
    };
    const timer = setTimeout(done, ICE_GATHERING_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", check);
  });
}
