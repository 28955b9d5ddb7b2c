import { describe, expect, it } from "vitest";

import { checkCameraSends } from "./cameraCheck";

/** The media-source frame counter as getStats reports it, one reading per call. */
function counter(readings: (number | null)[]): () => Promise<number | null> {
  let at = 0;
  return async () => readings[Math.min(at++, readings.length - 1)];
}

const noWait = async (): Promise<void> => undefined;

describe("checking that a new camera's frames reach the encoder", () => {
  it("says the camera sends once the counter rises past the first reading", async () => {
    expect(await checkCameraSends(counter([76, 76, 77]), { timeoutMs: 1000, intervalMs: 250, wait: noWait })).toBe(
      "sends",
    );
  });

  it("says the camera stalled when the counter stays where the old camera left it", async () => {
    // A depth camera: the self view plays, the sender's count stops (Chromium drops Y16).
    let waited = 0;
    const wait = async (ms: number): Promise<void> => {
      waited += ms;
    };
    expect(await checkCameraSends(counter([76]), { timeoutMs: 1000, intervalMs: 250, wait })).toBe("stalled");
    expect(waited).toBe(1000);
  });

  it("cannot tell, and trusts the camera, when the browser reports no counter", async () => {
    expect(await checkCameraSends(counter([null]), { wait: noWait })).toBe("unknown");
  });

  it("cannot tell when the layers are paused at the end, counted or not before", async () => {
    expect(await checkCameraSends(counter([5, 5, null]), { timeoutMs: 1000, intervalMs: 250, wait: noWait })).toBe(
      "unknown",
    );
  });

  it("takes its baseline once the layers resume, and waits for a rise from there", async () => {
    // Turned on again: the server resumes the paused layers a moment later.
    const resumed = counter([null, null, 40, 40, 41]);
    expect(await checkCameraSends(resumed, { timeoutMs: 1000, intervalMs: 250, wait: noWait })).toBe("sends");
    const frozen = counter([null, null, 40]);
    expect(await checkCameraSends(frozen, { timeoutMs: 1000, intervalMs: 250, wait: noWait })).toBe("stalled");
  });
});
