// Simulcast (docs/protocol.md, "Simulcast and bandwidth"): the camera goes out as three
// VP8 layers named by RTP stream id, lowest resolution first, exactly the rids the
// server answers (signaling/media.py SIMULCAST_RIDS). The server forwards one layer to
// each subscriber and tells us (`publish_layers`) which layers anyone receives; we
// pause the others at the encoder, which saves our uplink and CPU.

export const SIMULCAST_RIDS = ["q", "h", "f"] as const;
export type Rid = (typeof SIMULCAST_RIDS)[number];

/** lib.dom has no scalabilityMode yet (WebRTC-SVC). */
export type Encoding = RTCRtpEncodingParameters & { scalabilityMode?: string };

// A quarter, a half and the whole camera picture (from 960x540: 240x135, 480x270,
// 960x540; media/local.ts asks the camera for that size).
// Temporal layers (L1T3) let the server drop frame rate before it drops a layer.
const LAYERS: readonly Encoding[] = [
  { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150_000, scalabilityMode: "L1T3" },
  { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 500_000, scalabilityMode: "L1T3" },
  { rid: "f", scaleResolutionDownBy: 1, maxBitrate: 1_200_000, scalabilityMode: "L1T3" },
];

/**
 * The camera's send encodings to try, best first: the three layers with temporal
 * layers, then without (a browser that rejects the scalabilityMode throws in
 * addTransceiver). If every choice is refused the camera is sent as one stream, which
 * the server forwards as it is.
 */
export function cameraEncodingChoices(): Encoding[][] {
  const withModes = LAYERS.map((layer) => ({ ...layer }));
  const withoutModes = LAYERS.map(({ scalabilityMode: _mode, ...layer }) => ({ ...layer }));
  return [withModes, withoutModes];
}

/** What of an RTCRtpSender the layer switch uses. */
export interface ParameterizedSender {
  getParameters(): RTCRtpSendParameters;
  setParameters(parameters: RTCRtpSendParameters): Promise<void>;
}

/**
 * Turns the camera's layers on and off as the server asks. One setParameters at a time
 * (a second before the first resolves is refused by browsers, and would race it): each
 * run applies the newest wish, so two quick messages end as the second says.
 */
export class PublishLayers {
  private wanted: Partial<Record<string, boolean>> | null = null;
  private applying: Promise<void> = Promise.resolve();

  constructor(private readonly sender: ParameterizedSender) {}

  /** Ask for these layers (rid -> on); rids not named keep their state. */
  set(active: Partial<Record<string, boolean>>): Promise<void> {
    this.wanted = { ...active };
    const run = this.applying.then(() => this.apply());
    this.applying = run.catch(() => undefined);
    return run;
  }

  /** The rids whose encoding is on now (for tests and support). */
  active(): string[] {
    return this.sender
      .getParameters()
      .encodings.filter((e) => e.rid !== undefined && e.active !== false)
      .map((e) => e.rid as string);
  }

  private async apply(): Promise<void> {
    const wanted = this.wanted;
    if (wanted === null) return;
    const parameters = this.sender.getParameters();
    let changed = false;
    for (const encoding of parameters.encodings) {
      const on = encoding.rid === undefined ? undefined : wanted[encoding.rid];
      if (on === undefined || (encoding.active ?? true) === on) continue;
      encoding.active = on;
      changed = true;
    }
    if (changed) await this.sender.setParameters(parameters);
  }
}
