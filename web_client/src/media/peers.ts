// The two peer connections of one participant (signaling/media.py): we offer on the
// publish connection; the server offers on the subscribe connection whenever the set of
// forwarded tracks changes, and each offer's `tracks` says whose media each mid carries.

import type { SignalingClient } from "../protocol/client";
import type { ForwardedTrack, ServerEvents } from "../protocol/types";

const ICE_GATHERING_TIMEOUT_MS = 4000;
// "disconnected" often heals by itself; this long and it counts as failed.
const DISCONNECTED_MS = 5000;

/** How our peer connections are doing: one failed, or one is connected. */
export type MediaHealth = "failed" | "connected";

export type RemoteStreams = ReadonlyMap<string, MediaStream>;

export interface InboundStats {
  audio: { packetsReceived: number; bytesReceived: number } | null;
  video: { packetsReceived: number; framesDecoded: number; frameWidth: number } | null;
}

export class PeerMedia {
  private publishPc: RTCPeerConnection | null = null;
  private subscribePc: RTCPeerConnection | null = null;
  private tracks: ForwardedTrack[] = [];
  private streams = new Map<string, MediaStream>();
  private offers: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly client: SignalingClient,
    private readonly onStreams: (streams: RemoteStreams) => void,
    private readonly onFailure: (message: string) => void,
    private readonly onHealth: (health: MediaHealth) => void = () => undefined,
  ) {}

  /** Publish our tracks (if any) and subscribe to the room's. */
  async start(local: MediaStream | null, publish: boolean): Promise<void> {
    const subscribe = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
    this.subscribePc = subscribe;
    this.watch(subscribe);
    subscribe.ontrack = () => this.remap();
    // The first offer may arrive before the subscribe ack: the connection exists first.
    await this.client.request("subscribe", {});
    if (publish && local !== null && local.getTracks().length > 0) await this.publish(local);
  }

  private async publish(local: MediaStream): Promise<void> {
    const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
    this.publishPc = pc;
    this.watch(pc);
    for (const track of local.getTracks()) {
      // The stream id tells the server nothing: it labels forwarded tracks with our id.
      pc.addTransceiver(track, { direction: "sendonly", streams: [local] });
    }
    await pc.setLocalDescription(await pc.createOffer());
    await gatheringComplete(pc);
    if (this.closed) return;
    const answer = await this.client.request("publish", {
      sdp: pc.localDescription?.sdp ?? "",
      type: "offer",
    });
    if (this.closed) return;
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
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
    for (const transceiver of pc.getTransceivers()) {
      const forwarded = this.tracks.find((t) => t.mid === transceiver.mid);
      if (forwarded === undefined) continue;
      const list = byParticipant.get(forwarded.participant_id) ?? [];
      list.push(transceiver.receiver.track);
      byParticipant.set(forwarded.participant_id, list);
    }
    const next = new Map<string, MediaStream>();
    let changed = byParticipant.size !== this.streams.size;
    for (const [participantId, tracks] of byParticipant) {
      const previous = this.streams.get(participantId);
      const same =
        previous !== undefined &&
        previous.getTracks().length === tracks.length &&
        tracks.every((t) => previous.getTracks().includes(t));
      // A new stream object when the set changes: a <video> then reloads its source.
      next.set(participantId, same ? previous : new MediaStream(tracks));
      changed ||= !same;
    }
    this.streams = next;
    if (changed) this.onStreams(next);
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
      const participantId =
        this.tracks.find((t) => t.mid === mid)?.participant_id ?? byTrackId.get(String(stat.trackIdentifier));
      if (participantId === undefined) return;
      // A publisher who reconnected arrives on a new SSRC, and the old stream's stats may
      // linger: sum them, so the counters only ever rise.
      const entry = (result[participantId] ??= { audio: null, video: null });
      const packetsReceived = Number(stat.packetsReceived ?? 0);
      if (stat.kind === "audio") {
        const audio = (entry.audio ??= { packetsReceived: 0, bytesReceived: 0 });
        audio.packetsReceived += packetsReceived;
        audio.bytesReceived += Number(stat.bytesReceived ?? 0);
      } else {
        const video = (entry.video ??= { packetsReceived: 0, framesDecoded: 0, frameWidth: 0 });
        video.packetsReceived += packetsReceived;
        video.framesDecoded += Number(stat.framesDecoded ?? 0);
        video.frameWidth = Math.max(video.frameWidth, Number(stat.frameWidth ?? 0));
      }
    });
    return result;
  }

  close(): void {
    this.closed = true;
    this.publishPc?.close();
    this.subscribePc?.close();
    this.publishPc = null;
    this.subscribePc = null;
    this.streams = new Map();
    this.onStreams(this.streams);
  }
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
