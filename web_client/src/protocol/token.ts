// Reading the join link. The token is decoded only to greet the person by name before
// they join; the server verifies it and is the authority on everything it says.

import type { Role } from "./types";

export interface JoinLinkClaims {
  room: string;
  participantId: string;
  name: string;
  role: Role;
  /** Seconds since the epoch. */
  expiresAt: number;
}

/** The token from a fragment like `#token=JWT` (other fragment parameters are ignored). */
export function tokenFromFragment(hash: string): string | null {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const token = params.get("token");
  return token !== null && token.trim() !== "" ? token.trim() : null;
}

/** The claims of a JWT, unverified; null when it is not a readable join token. */
export function readClaims(token: string): JoinLinkClaims | null {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const base64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
    if (typeof claims.name !== "string" || typeof claims.role !== "string") return null;
    return {
      room: String(claims.room ?? ""),
      participantId: String(claims.sub ?? ""),
      name: claims.name,
      role: claims.role as Role,
      expiresAt: typeof claims.exp === "number" ? claims.exp : 0,
    };
  } catch {
    return null;
  }
}
