// The one thing an operator does inside a room: end it, with a stated reason.

import type { Refusal } from "./types";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly refusal: Refusal,
  ) {
    super(refusal.message);
    this.name = "ApiError";
  }
}

/** POST /api/rooms/{room_ref}/end {reason}; resolves once the server has ended it. */
export async function endRoom(token: string, roomRef: string, reason: string): Promise<void> {
  let response: Response;
  try {
    response = await fetch(`/api/rooms/${encodeURIComponent(roomRef)}/end`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({ reason }),
    });
  } catch {
    throw new ApiError(0, { code: "network", message: "the server could not be reached" });
  }
  if (response.ok) return;
  let refusal: Refusal = { code: "http_" + response.status, message: response.statusText };
  try {
    const body = (await response.json()) as { error?: Partial<Refusal> };
    if (body.error?.code) refusal = { code: body.error.code, message: body.error.message ?? "" };
  } catch {
    // not JSON: keep the status
  }
  throw new ApiError(response.status, refusal);
}
