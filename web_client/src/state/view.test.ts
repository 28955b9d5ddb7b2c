import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { MAX_REPORTED_TILES, REPORT_DEBOUNCE_MS, sameReport, viewReport, ViewReporter, type TileReport } from "./view";

const seen = (width: number, height: number, intersecting = true) => ({ intersecting, width, height });

describe("viewReport", () => {
  it("reports each remote participant: on screen at its size, otherwise hidden at 0", () => {
    const sightings = new Map([
      ["p_anna", seen(640.4, 359.6)],
      ["p_ben", seen(320, 180, false)],
      ["p_cleo", seen(0, 0)], // laid out with no size (display: none)
    ]);
    expect(viewReport(["p_anna", "p_ben", "p_cleo", "p_dan"], sightings, true)).toEqual([
      { participant_id: "p_anna", visible: true, width: 640, height: 360 },
      { participant_id: "p_ben", visible: false, width: 0, height: 0 },
      { participant_id: "p_cleo", visible: false, width: 0, height: 0 },
      // No tile at all (another side room, not rendered): hidden.
      { participant_id: "p_dan", visible: false, width: 0, height: 0 },
    ]);
  });

  it("says every tile is hidden while the page is", () => {
    const sightings = new Map([["p_anna", seen(640, 360)]]);
    expect(viewReport(["p_anna"], sightings, false)).toEqual([
      { participant_id: "p_anna", visible: false, width: 0, height: 0 },
    ]);
  });

  it("stays within what the server accepts: sizes bounded, at most 64 rows, each once", () => {
    const ids = Array.from({ length: 70 }, (_, i) => `p_${i}`);
    const sightings = new Map([["p_0", seen(40_000, Number.NaN)], ["p_1", seen(20_000, 9000)]]);
    const report = viewReport(["p_0", ...ids], sightings, true);
    expect(report).toHaveLength(MAX_REPORTED_TILES);
    expect(new Set(report.map((t) => t.participant_id)).size).toBe(MAX_REPORTED_TILES);
    expect(report[0]).toEqual({ participant_id: "p_0", visible: false, width: 0, height: 0 });
    expect(report[1]).toEqual({ participant_id: "p_1", visible: true, width: 16384, height: 9000 });
  });

  it("compares reports row by row", () => {
    const a: TileReport[] = [{ participant_id: "p_a", visible: true, width: 1, height: 2 }];
    expect(sameReport(a, [{ ...a[0] }])).toBe(true);
    expect(sameReport(a, [{ ...a[0], width: 3 }])).toBe(false);
    expect(sameReport(a, [])).toBe(false);
  });
});

describe("ViewReporter", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function reporter(send = vi.fn().mockResolvedValue({})) {
    return { send, view: new ViewReporter(send) };
  }

  it("reports nothing before the subscribe connection exists", async () => {
    const { send, view } = reporter();
    view.setParticipants(["p_anna"]);
    view.sight("p_anna", seen(320, 180));
    await vi.advanceTimersByTimeAsync(5 * REPORT_DEBOUNCE_MS);
    expect(send).not.toHaveBeenCalled();
  });

  it("sends once the changes have stopped for the debounce, and only what changed", async () => {
    const { send, view } = reporter();
    view.setParticipants(["p_anna", "p_ben"]);
    view.start();
    // A resize in steps (a window being dragged): one report, of where it ended.
    for (const width of [100, 200, 300, 400]) {
      view.sight("p_anna", seen(width, 180));
      await vi.advanceTimersByTimeAsync(REPORT_DEBOUNCE_MS - 50);
    }
    expect(send).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(50);
    expect(send).toHaveBeenCalledTimes(1);
    expect(send).toHaveBeenLastCalledWith([
      { participant_id: "p_anna", visible: true, width: 400, height: 180 },
      { participant_id: "p_ben", visible: false, width: 0, height: 0 },
    ]);
    // The same again is not sent again.
    view.sight("p_anna", seen(400, 180));
    view.setParticipants(["p_anna", "p_ben"]);
    await vi.advanceTimersByTimeAsync(2 * REPORT_DEBOUNCE_MS);
    expect(send).toHaveBeenCalledTimes(1);
    // Ben's tile scrolls into view.
    view.sight("p_ben", seen(160, 90));
    await vi.advanceTimersByTimeAsync(REPORT_DEBOUNCE_MS);
    expect(send).toHaveBeenCalledTimes(2);
    expect(send.mock.lastCall?.[0][1]).toEqual({ participant_id: "p_ben", visible: true, width: 160, height: 90 });
  });

  it("hides everything while the page is hidden, and shows it again after", async () => {
    const { send, view } = reporter();
    view.setParticipants(["p_anna"]);
    view.sight("p_anna", seen(320, 180));
    view.start();
    await vi.advanceTimersByTimeAsync(REPORT_DEBOUNCE_MS);
    view.setPageVisible(false);
    await vi.advanceTimersByTimeAsync(REPORT_DEBOUNCE_MS);
    view.setPageVisible(true);
    await vi.advanceTimersByTimeAsync(REPORT_DEBOUNCE_MS);
    expect(send.mock.calls.map(([tiles]) => tiles[0].visible)).toEqual([true, false, true]);
  });

  it("sends the view afresh after a media restart, even when it did not change", async () => {
    const { send, view } = reporter();
    view.setParticipants(["p_anna"]);
    view.sight("p_anna", seen(320, 180));
    view.start();
    await vi.advanceTimersByTimeAsync(REPORT_DEBOUNCE_MS);
    view.stop();
    view.sight("p_anna", seen(320, 180));
    await vi.advanceTimersByTimeAsync(REPORT_DEBOUNCE_MS);
    expect(send).toHaveBeenCalledTimes(1);
    view.start(); // new subscribe connection: the server knows nothing of our view
    await vi.advanceTimersByTimeAsync(REPORT_DEBOUNCE_MS);
    expect(send).toHaveBeenCalledTimes(2);
    expect(send.mock.calls[1][0]).toEqual(send.mock.calls[0][0]);
  });

  it("has one report in flight at a time; a change meanwhile follows it", async () => {
    let release = (): void => undefined;
    const send = vi.fn(
      (_tiles: TileReport[]) =>
        new Promise<void>((resolve) => {
          release = resolve;
        }),
    );
    const { view } = reporter(send);
    view.setParticipants(["p_anna"]);
    view.sight("p_anna", seen(320, 180));
    view.start();
    await vi.advanceTimersByTimeAsync(REPORT_DEBOUNCE_MS);
    view.sight("p_anna", seen(640, 360));
    await vi.advanceTimersByTimeAsync(3 * REPORT_DEBOUNCE_MS);
    expect(send).toHaveBeenCalledTimes(1);
    release();
    await vi.advanceTimersByTimeAsync(REPORT_DEBOUNCE_MS);
    expect(send).toHaveBeenCalledTimes(2);
    expect(send.mock.lastCall?.[0][0].width).toBe(640);
  });

  it("does not count a report made for the previous subscribe connection", async () => {
    let release = (): void => undefined;
    const send = vi.fn(
      (_tiles: TileReport[]) =>
        new Promise<void>((resolve) => {
          release = resolve;
        }),
    );
    const { view } = reporter(send);
    view.setParticipants(["p_anna"]);
    view.start();
    await vi.advanceTimersByTimeAsync(REPORT_DEBOUNCE_MS);
    view.stop();
    view.start(); // media recovered while the first report was on its way
    release();
    await vi.advanceTimersByTimeAsync(REPORT_DEBOUNCE_MS);
    release();
    await vi.advanceTimersByTimeAsync(REPORT_DEBOUNCE_MS);
    expect(send).toHaveBeenCalledTimes(2);
  });

  it("tries again at the next change when a report is refused", async () => {
    const send = vi.fn().mockRejectedValueOnce(new Error("timed out")).mockResolvedValue({});
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const { view } = reporter(send);
    view.setParticipants(["p_anna"]);
    view.start();
    await vi.advanceTimersByTimeAsync(REPORT_DEBOUNCE_MS);
    view.sight("p_anna", seen(10, 10, false)); // changes nothing in the report
    await vi.advanceTimersByTimeAsync(REPORT_DEBOUNCE_MS);
    expect(send).toHaveBeenCalledTimes(2);
    warn.mockRestore();
  });
});
