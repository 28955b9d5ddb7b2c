// The live feed: Socket.IO namespace `/operator`, authenticated by the operator token.
// The server pushes a `monitor` event (a MonitorSnapshot) about once a second. This
// client never sends anything on it and never touches media.

import { io, type Socket } from "socket.io-client";
import { refusalFrom } from "./link";
import type { OperatorStore } from "./store";
import type { MonitorSnapshot } from "./types";

export const NAMESPACE = "/operator";

export class OperatorFeed {
  private readonly socket: Socket;
  private retry: ReturnType<typeof setTimeout> | null = null;

  constructor(
    token: string,
    private readonly store: OperatorStore,
    url: string = window.location.origin,
  ) {
    this.socket = io(url + NAMESPACE, {
      path: "/socket.io/",
      transports: ["websocket"],
      auth: { token },
      autoConnect: false,
      reconnection: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 4000,
    });
    this.socket.on("connect", () => store.dispatch({ type: "connected" }));
    this.socket.on("monitor", (snapshot: MonitorSnapshot) =>
      store.dispatch({ type: "snapshot", snapshot, receivedAt: Date.now() }),
    );
    this.socket.on("connect_error", (err: Error & { data?: unknown }) => {
      const refusal = refusalFrom(err);
      // A refusal is final (Socket.IO does not retry it); anything else is retried.
      if (refusal !== null) store.dispatch({ type: "refused", refusal });
      else store.dispatch({ type: "disconnected", reason: err.message });
    });
    this.socket.on("disconnect", (reason) => {
      store.dispatch({ type: "disconnected", reason });
      // Socket.IO retries network drops itself, not a disconnect by the server (a
      // restart, say): try again, so an expired token shows as refused, not as silence.
      if (reason === "io server disconnect") {
        this.retry = setTimeout(() => this.socket.connect(), 1000);
      }
    });
  }

  connect(): void {
    this.store.dispatch({ type: "connecting" });
    this.socket.connect();
  }

  close(): void {
    if (this.retry !== null) clearTimeout(this.retry);
    this.socket.disconnect();
  }
}
