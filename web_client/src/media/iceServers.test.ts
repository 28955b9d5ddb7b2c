import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import type { IceServers } from "../protocol/types";
import { IceServerRefresh } from "./iceServers";

const servers = (username: string, refresh: number | null): IceServers => ({
  ice_servers: [{ urls: ["turn:turn.example.org:3478"], username, credential: "c" }],
  ice_servers_refresh_s: refresh,
});

describe("IceServerRefresh", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("applies the servers at once and fetches fresh ones when told, again and again", async () => {
    const applied: string[] = [];
    const fetch = vi.fn().mockResolvedValueOnce(servers("2", 1800)).mockResolvedValueOnce(servers("3", 1800));
    const refresh = new IceServerRefresh(fetch, (s) => applied.push(String(s[0].username)));
    refresh.take(servers("1", 1800));
    expect(applied).toEqual(["1"]);
    await vi.advanceTimersByTimeAsync(1799_000);
    expect(fetch).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(applied).toEqual(["1", "2"]);
    await vi.advanceTimersByTimeAsync(1800_000);
    expect(applied).toEqual(["1", "2", "3"]);
  });

  it("never fetches without TURN", async () => {
    const fetch = vi.fn();
    new IceServerRefresh(fetch, () => undefined).take({ ice_servers: [], ice_servers_refresh_s: null });
    await vi.advanceTimersByTimeAsync(24 * 3600_000);
    expect(fetch).not.toHaveBeenCalled();
  });

  it("retries a failed refresh, and stops when the session ends", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const fetch = vi.fn().mockRejectedValueOnce(new Error("disconnected")).mockResolvedValue(servers("2", 60));
    const applied: string[] = [];
    const refresh = new IceServerRefresh(fetch, (s) => applied.push(String(s[0].username)), 30);
    refresh.take(servers("1", 60));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(applied).toEqual(["1"]);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(applied).toEqual(["1", "2"]);
    refresh.stop();
    await vi.advanceTimersByTimeAsync(3600_000);
    expect(fetch).toHaveBeenCalledTimes(2);
    warn.mockRestore();
  });
});
