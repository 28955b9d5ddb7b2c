import { describe, expect, it } from "vitest";
import { chartGeometry, chartSummary } from "./chart";
import { duration, kbps, layersPublished, layersReceived, pct, videosPaused } from "./format";
import { operatorTokenFromFragment, refusalExplanation, refusalFrom } from "./link";

describe("the operator link", () => {
  it("reads the token from the fragment", () => {
    expect(operatorTokenFromFragment("#operator=abc.def.ghi")).toBe("abc.def.ghi");
    expect(operatorTokenFromFragment("#operator=")).toBe("");
    expect(operatorTokenFromFragment("#token=abc")).toBeNull();
    expect(operatorTokenFromFragment("")).toBeNull();
  });
});

describe("refusals", () => {
  it("reads {code, message} from err.data", () => {
    expect(refusalFrom({ message: "x", data: { code: "token_expired", message: "expired" } })).toEqual({
      code: "token_expired",
      message: "expired",
    });
  });

  it("reads python-socketio's repr of a single dict argument", () => {
    const message = "{'code': 'invalid_token', 'message': 'the token is not valid for this server'}";
    expect(refusalFrom({ message })).toEqual({ code: "invalid_token", message: "the token is not valid for this server" });
    const withQuote = `{'code': 'invalid_token', 'message': "an operator's token is required"}`;
    expect(refusalFrom({ message: withQuote })?.message).toBe("an operator's token is required");
  });

  it("is null for a network error (retried, not refused)", () => {
    expect(refusalFrom({ message: "websocket error" })).toBeNull();
    expect(refusalFrom({ message: "websocket error", data: undefined })).toBeNull();
  });

  it("explains by code", () => {
    expect(refusalExplanation({ code: "token_expired", message: "" }).title).toMatch(/expired/);
    expect(refusalExplanation({ code: "invalid_token", message: "" }).advice).toMatch(/Join links/);
  });
});

describe("the chart", () => {
  const history = [
    { at: 1000, bitrate_up_kbps: 100, bitrate_down_kbps: 200, loss_pct: 0 },
    { at: 1030, bitrate_up_kbps: 300, bitrate_down_kbps: 640, loss_pct: 2.5 },
    { at: 1060, bitrate_up_kbps: 250, bitrate_down_kbps: 500, loss_pct: 0.4 },
  ];

  it("scales to round ceilings and ends at the right edge", () => {
    const g = chartGeometry(history, 1060);
    expect(g.maxKbps).toBe(700);
    expect(g.maxLossPct).toBe(5);
    expect(g.windowS).toBe(60); // a young room: one minute, not five
    expect(g.up.startsWith("M0.0,")).toBe(true);
    expect(g.up).toContain("L300.0,");
    expect(g.loss.endsWith("Z")).toBe(true);
  });

  it("grows to five minutes, then leaves out older points", () => {
    expect(chartGeometry(history, 1150).windowS).toBe(180);
    const g = chartGeometry(history, 1320);
    expect(g.windowS).toBe(300);
    expect(g.up.split(" ")).toHaveLength(2);
    expect(chartGeometry([], 1000)).toMatchObject({ up: "", down: "", loss: "" });
  });

  it("says the same in words", () => {
    expect(chartSummary(history, 1060)).toBe(
      "Last 1 min: bitrate up 250 kbps now (peak 300 kbps), down 500 kbps now (peak 640 kbps), loss 0.4 % now (peak 2.5 %).",
    );
    expect(chartSummary([], 1000)).toBe("No history yet.");
  });
});

describe("formatting", () => {
  it("shows units and unknowns", () => {
    expect(kbps(1500)).toBe("1.5 Mbps");
    expect(kbps(null)).toBe("–");
    expect(pct(0.25)).toBe("0.3 %");
    expect(duration(45)).toBe("45 s");
    expect(duration(3900)).toBe("1 h 05 min");
  });
});

describe("simulcast figures", () => {
  it("names the layers received, best first, and only those in use", () => {
    expect(layersReceived({ q: 3, h: 0, f: 1, single: 0 })).toBe("full 1, quarter 3");
    expect(layersReceived({ q: 0, h: 2, f: 0, single: 1 })).toBe("half 2, single 1");
    expect(layersReceived({ q: 0, h: 0, f: 0, single: 0 })).toBe("none");
    expect(layersReceived(undefined)).toBe("–");
  });

  it("counts paused videos by reason", () => {
    expect(videosPaused({ hidden: 2, bandwidth: 1 })).toBe("2 hidden, 1 bandwidth");
    expect(videosPaused({ hidden: 0, bandwidth: 4 })).toBe("4 bandwidth");
    expect(videosPaused({ hidden: 0, bandwidth: 0 })).toBe("none");
  });

  it("lists the layers published, lowest first", () => {
    expect(layersPublished(["f", "q"])).toBe("q f");
    expect(layersPublished([])).toBe("none");
    expect(layersPublished(undefined)).toBe("–");
  });
});
