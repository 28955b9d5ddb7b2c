import type { RoomState } from "../state/room";

const REFUSALS: Record<string, { title: string; body: string }> = {
  token_expired: {
    title: "This link has expired",
    body: "Join links only work for a limited time. Please ask your facilitator for a new link.",
  },
  invalid_token: {
    title: "This link does not work",
    body: "Please check that you opened the whole link from your invitation, or ask your facilitator for a new one.",
  },
  token_wrong_room: {
    title: "This link is for a different session",
    body: "Please check your invitation, or ask your facilitator for the right link.",
  },
  token_revoked: {
    title: "This link no longer works",
    body: "It was withdrawn. Please ask your facilitator for a new one.",
  },
  seat_taken: {
    title: "This link is open somewhere else",
    body: "The session does not allow the same link in two places. Close the other window, then open your link again.",
  },
  waiting_room_full: {
    title: "The waiting room is full",
    body: "Too many people are waiting right now. Please try again in a few minutes.",
  },
  server_full: {
    title: "The server is busy",
    body: "It cannot open another session right now. Please try again in a few minutes, or contact your facilitator.",
  },
  rate_limited: {
    title: "Too many attempts",
    body: "Please wait a minute, then open your link again.",
  },
  barred: {
    title: "You cannot rejoin this session",
    body: "The facilitator has asked you to leave this session. If you think this is a mistake, please contact them.",
  },
  room_locked: {
    title: "This session is locked",
    body: "The facilitator has locked the session, so nobody new can join right now. Please contact your facilitator.",
  },
  room_full: {
    title: "This session is full",
    body: "There is no space left in this session. Please contact your facilitator.",
  },
  room_ended: {
    title: "This session has ended",
    body: "Thank you for coming. You can close this page.",
  },
};

function Message({ title, body, children }: { title: string; body: string; children?: preact.ComponentChildren }) {
  return (
    <main class="page narrow message" aria-labelledby="message-title">
      <h1 id="message-title">{title}</h1>
      <p class="lead">{body}</p>
      {children}
    </main>
  );
}

export function FinalScreen({ state }: { state: RoomState }) {
  switch (state.phase) {
    case "no_link":
      return (
        <Message
          title="You need a join link"
          body="Open the link from your invitation to join a session. If you do not have one, please ask your facilitator."
        />
      );
    case "refused": {
      const code = state.error?.code ?? "";
      const known = REFUSALS[code];
      return known ? (
        <Message {...known} />
      ) : (
        <Message title="We could not connect you" body={`${state.error?.message ?? "Something went wrong"}. Please try again, or ask your facilitator.`}>
          <button type="button" class="primary" onClick={() => window.location.reload()}>
            Try again
          </button>
        </Message>
      );
    }
    case "left":
      return <Message title="You have left the session" body="Take care. You can close this page." />;
    case "removed":
      return (
        <Message
          title="You have been removed from the session"
          body="The facilitator has removed you from this session. If you would like to talk about it, please contact them."
        />
      );
    case "denied":
      return (
        <Message
          title="The facilitator did not let you in"
          body="You cannot join this session. If you think this is a mistake, please contact your facilitator."
        />
      );
    case "ended":
      return <Message title="The session has ended" body="Thank you for taking part. You can close this page." />;
    case "superseded":
      return (
        <Message
          title="You joined from another window"
          body="This link is now open in another tab or device, so this page has stopped."
        />
      );
    default:
      return null;
  }
}
