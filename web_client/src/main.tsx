import { render } from "preact";
import { OperatorApp, operatorTokenFromFragment } from "./operator/OperatorApp";
import { readClaims, tokenFromFragment } from "./protocol/token";
import { Session } from "./session";
import { App } from "./ui/App";
import "./styles.css";

const token = tokenFromFragment(window.location.hash);
const session = new Session(token, token === null ? null : readClaims(token));

// A small window onto the session for tests and support: counters and state, no media.
declare global {
  interface Window {
    groupsession?: {
      state: () => unknown;
      inboundStats: () => Promise<unknown>;
      /** Our camera's simulcast layers as the encoder sends them. */
      outboundLayers: () => Promise<unknown>;
      /** What we would report of the remote tiles now (`report_view`). */
      view: () => unknown;
      localTracks: () => { kind: string; label: string; enabled: boolean; readyState: string }[];
      shareScreen: () => Promise<boolean>;
    };
  }
}
window.groupsession = {
  state: () => session.state,
  inboundStats: () => session.inboundStats(),
  outboundLayers: () => session.outboundLayers(),
  view: () => session.view.current(),
  // What the Share screen button does, for a test of the server's refusal.
  shareScreen: () => session.shareScreen(),
  localTracks: () =>
    (session.local.stream?.getTracks() ?? []).map((t) => ({
      kind: t.kind,
      label: t.label,
      enabled: t.enabled,
      readyState: t.readyState,
    })),
};

// An operator link (`#operator=JWT`) opens the operator page instead of a room.
const operatorToken = operatorTokenFromFragment(window.location.hash);
render(
  operatorToken !== null ? <OperatorApp token={operatorToken} /> : <App session={session} />,
  document.getElementById("app")!,
);
