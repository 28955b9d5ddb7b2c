import { describe, expect, it } from "vitest";

import { cameraEncodingChoices, PublishLayers, SIMULCAST_RIDS, type ParameterizedSender } from "./simulcast";

/** An RTCRtpSender's parameters as browsers keep them: a copy out, a copy in, and a
 * second setParameters before the first resolved refused (InvalidStateError). */
class SenderParameters implements ParameterizedSender {
  encodings = SIMULCAST_RIDS.map((rid) => ({ rid, active: true }));
  applied: boolean[][] = [];
  private pending: (() => void)[] = [];
  private busy = false;

  getParameters(): RTCRtpSendParameters {
    return { transactionId: "t", encodings: this.encodings.map((e) => ({ ...e })), codecs: [], headerExtensions: [], rtcp: {} };
  }

  setParameters(parameters: RTCRtpSendParameters): Promise<void> {
    if (this.busy) return Promise.reject(new Error("InvalidStateError: a setParameters is in progress"));
    this.busy = true;
    return new Promise((resolve) => {
      this.pending.push(() => {
        this.encodings = parameters.encodings.map((e) => ({ rid: e.rid as (typeof SIMULCAST_RIDS)[number], active: e.active ?? true }));
        this.applied.push(this.encodings.map((e) => e.active));
        this.busy = false;
        resolve();
      });
    });
  }

  finish(): void {
    this.pending.shift()?.();
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("the camera's simulcast encodings", () => {
  it("are the server's rids, lowest resolution first, with temporal layers first tried", () => {
    const [best, plain] = cameraEncodingChoices();
    expect(best.map((e) => e.rid)).toEqual(["q", "h", "f"]);
    expect(best.map((e) => e.scaleResolutionDownBy)).toEqual([4, 2, 1]);
    expect(best.every((e) => e.scalabilityMode === "L1T3")).toBe(true);
    const rates = best.map((e) => e.maxBitrate ?? 0);
    expect(rates).toEqual([...rates].sort((a, b) => a - b));
    expect(plain.every((e) => e.scalabilityMode === undefined && e.rid !== undefined)).toBe(true);
  });
});

describe("PublishLayers", () => {
  it("turns the layers off and on as asked, leaving unnamed ones as they are", async () => {
    const sender = new SenderParameters();
    const layers = new PublishLayers(sender);
    const done = layers.set({ q: true, h: false, f: false });
    await settle();
    sender.finish();
    await done;
    expect(layers.active()).toEqual(["q"]);
    const again = layers.set({ f: true, x: false });
    await settle();
    sender.finish();
    await again;
    expect(layers.active()).toEqual(["q", "f"]);
  });

  it("applies two quick messages one after the other, ending as the second says", async () => {
    const sender = new SenderParameters();
    const layers = new PublishLayers(sender);
    const first = layers.set({ q: true, h: true, f: false });
    const second = layers.set({ q: true, h: false, f: false });
    await settle();
    sender.finish();
    await first;
    await settle();
    sender.finish();
    await second;
    // No second call raced the first (it would have been refused), and the last wins.
    expect(sender.applied.at(-1)).toEqual([true, false, false]);
    expect(layers.active()).toEqual(["q"]);
  });

  it("does not call setParameters when nothing changes", async () => {
    const sender = new SenderParameters();
    await new PublishLayers(sender).set({ q: true, h: true, f: true });
    expect(sender.applied).toEqual([]);
  });
});
