// Whether a camera's picture reaches the encoder after a switch. Some cameras deliver
// frames a page can show but WebRTC cannot encode: Chromium drops a depth camera's
// 16-bit greyscale (Y16) frames before its encoder, so the sender goes silent while the
// self view plays. Chromium's second fake camera is such a depth camera (its
// fake_video_capture_device_factory.cc kDepthDeviceIndex). The only sign is the
// sender's media-source `frames` counter, which stops.

/** How long a new camera has to get its first frames to the encoder. */
export const CAMERA_CHECK_MS = 5000;
const CAMERA_CHECK_INTERVAL_MS = 250;

/** "sends": frames reach the encoder; "stalled": none did in time; "unknown": the browser does not say. */
export type CameraCheck = "sends" | "stalled" | "unknown";

export interface CameraCheckOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Injected for tests; the real one is setTimeout. */
  wait?: (ms: number) => Promise<void>;
}

/**
 * Read the sender's media-source frame counter until it rises. `read` returns null
 * while we cannot tell (no counter in this browser, or every layer paused because
 * nobody watches): "unknown" when that lasts to the end, and then the camera is
 * trusted. The first counted reading is the baseline: frames counted before it may be
 * the old camera's.
 */
export async function checkCameraSends(
  read: () => Promise<number | null>,
  { timeoutMs = CAMERA_CHECK_MS, intervalMs = CAMERA_CHECK_INTERVAL_MS, wait = sleep }: CameraCheckOptions = {},
): Promise<CameraCheck> {
  let first: number | null = null;
  for (let waited = 0; ; waited += intervalMs) {
    const now = await read();
    if (now !== null && first !== null && now > first) return "sends";
    first ??= now;
    if (waited >= timeoutMs) return first === null || now === null ? "unknown" : "stalled";
    await wait(intervalMs);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
