// The operator link (`#operator=JWT`) and the server's refusals.

import type { Refusal } from "./types";

/**
 * The operator token from a fragment like `#operator=JWT`: null when the fragment has no
 * `operator` parameter (not an operator link), "" when it has one without a value.
 */
export function operatorTokenFromFragment(hash: string): string | null {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const token = params.get("operator");
  return token === null ? null : token.trim();
}

/**
 * The `{code, message}` of a refused connect. Socket.IO puts the refusal's data in
 * `err.data`; python-socketio 5 sends a single dict argument as its Python repr in the
 * message instead (`{'code': 'invalid_token', 'message': '...'}`), so that is read too.
 * null: not a refusal (the server could not be reached; Socket.IO retries).
 */
export function refusalFrom(err: { message?: unknown; data?: unknown }): Refusal | null {
  const data = err.data as { code?: unknown; message?: unknown } | null | undefined;
  if (data != null && typeof data === "object" && typeof data.code === "string") {
    return { code: data.code, message: typeof data.message === "string" ? data.message : "" };
  }
  const text = typeof err.message === "string" ? err.message : "";
  const code = /['"]code['"]\s*:\s*['"]([\w.-]+)['"]/.exec(text);
  if (code === null) return null;
  const message = /['"]message['"]\s*:\s*(['"])(.*?)\1\s*[,}]/.exec(text);
  return { code: code[1], message: message?.[2] ?? "" };
}

/** What an operator should read for a refusal, by its code. */
/** The command that makes an operator link (shown with the advice). */
export const OPERATOR_TOKEN_COMMAND = "groupsession operator-token";

export function refusalExplanation(refusal: Refusal): { title: string; advice: string } {
  switch (refusal.code) {
    case "token_expired":
      return {
        title: "This operator link has expired",
        advice: "Operator links last 12 hours. Make a new one with:",
      };
    case "no_token":
      return {
        title: "This operator link has no token",
        advice: "Open the whole link, including everything after #operator=. To make one:",
      };
    default:
      return {
        title: "This link does not open the operator page",
        advice:
          "It is not a valid operator token for this server. Join links for facilitators and members never open it; " +
          "make an operator link with:",
      };
  }
}
