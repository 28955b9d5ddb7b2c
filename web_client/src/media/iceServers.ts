// TURN credentials expire (docs/protocol.md, "ICE servers"): the server says when to ask
// for fresh ones, and this asks, then hands them to the peer connections.

import type { IceServers } from "../protocol/types";

export class IceServerRefresh {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;

  constructor(
    private readonly fetch: () => Promise<IceServers>,
    private readonly apply: (servers: RTCIceServer[]) => void,
    /** After a failed refresh (a reconnect in progress...), try again this much later. */
    private readonly retrySeconds = 30,
  ) {}

  /** Servers from join's ack or a refresh: use them, and ask again when they say. */
  take(servers: IceServers): void {
    if (this.stopped) return;
    this.apply(servers.ice_servers);
    this.schedule(servers.ice_servers_refresh_s);
  }

  stop(): void {
    this.stopped = true;
    this.schedule(null);
  }

  private schedule(seconds: number | null): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (seconds === null || this.stopped) return;
    this.timer = setTimeout(() => void this.refresh(), seconds * 1000);
  }

  private async refresh(): Promise<void> {
    this.timer = null;
    try {
      this.take(await this.fetch());
    } catch (error) {
      console.warn("could not refresh ICE servers:", String(error));
      this.schedule(this.retrySeconds);
    }
  }
}
