// A typed Socket.IO client for the protocol: every command is a request that resolves
// with the server's ack, every server event is a typed subscription.

import { io, type Socket } from "socket.io-client";
import {
  SERVER_EVENTS,
  type ClientCommands,
  type CommandName,
  type ProtocolErrorBody,
  type ServerEventName,
  type ServerEvents,
} from "./types";

/** A command the server refused; ``code`` is one of signaling/errors.py's ErrorCode. */
export class ProtocolError extends Error {
  readonly code: string;
  /** wrong_node: where the room is served. */
  readonly nodeUrl: string | null;

  constructor(body: ProtocolErrorBody) {
    super(body.message);
    this.name = "ProtocolError";
    this.code = body.code;
    this.nodeUrl = typeof body.node_url === "string" ? body.node_url : null;
  }
}

export type ConnectionListener = (
  event: "connected" | "disconnected" | "retrying",
  detail: { reason?: string; willReconnect: boolean; attempt?: number },
) => void;

type Handler<K extends ServerEventName> = (payload: ServerEvents[K]) => void;

const ACK_TIMEOUT_MS = 15_000;

export class SignalingClient {
  private readonly socket: Socket;
  private readonly handlers = new Map<ServerEventName, Set<Handler<ServerEventName>>>();
  private readonly connectionListeners = new Set<ConnectionListener>();

  constructor(url: string = window.location.origin) {
    this.socket = io(url, {
      path: "/socket.io/",
      transports: ["websocket"],
      autoConnect: false,
      // Retries forever, backing off from 0.5 s to 5 s with jitter: the server keeps a
      // dropped person's place for its grace period, and comes back after a restart.
      reconnection: true,
      reconnectionAttempts: Infinity,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
      randomizationFactor: 0.5,
    });
    this.socket.io.on("reconnect_attempt", (attempt) => {
      for (const listener of this.connectionListeners) listener("retrying", { willReconnect: true, attempt });
    });
    for (const name of SERVER_EVENTS) {
      this.socket.on(name as string, (payload: unknown) => this.deliver(name, payload));
    }
    this.socket.on("connect", () => {
      for (const listener of this.connectionListeners) listener("connected", { willReconnect: false });
    });
    this.socket.on("disconnect", (reason) => {
      // "io server disconnect" (removed, ended, superseded) and "io client disconnect"
      // (we left) are final; anything else is a network drop that Socket.IO retries.
      const willReconnect = reason !== "io server disconnect" && reason !== "io client disconnect";
      for (const listener of this.connectionListeners) listener("disconnected", { reason, willReconnect });
    });
  }

  connect(): void {
    this.socket.connect();
  }

  close(): void {
    this.socket.disconnect();
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  onConnection(listener: ConnectionListener): () => void {
    this.connectionListeners.add(listener);
    return () => this.connectionListeners.delete(listener);
  }

  on<K extends ServerEventName>(name: K, handler: Handler<K>): () => void {
    let set = this.handlers.get(name);
    if (set === undefined) {
      set = new Set();
      this.handlers.set(name, set);
    }
    set.add(handler as Handler<ServerEventName>);
    return () => set.delete(handler as Handler<ServerEventName>);
  }

  /** Send a command; resolves with the ack's fields, rejects with ProtocolError. */
  async request<K extends CommandName>(
    name: K,
    payload: ClientCommands[K]["payload"],
  ): Promise<ClientCommands[K]["reply"]> {
    const ack = (await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck(name, payload)) as
      | ({ ok: true } & ClientCommands[K]["reply"])
      | { ok: false; error: ProtocolErrorBody };
    if (!ack.ok) throw new ProtocolError(ack.error);
    return ack;
  }

  private deliver(name: ServerEventName, payload: unknown): void {
    for (const handler of this.handlers.get(name) ?? []) handler(payload as never);
  }
}
