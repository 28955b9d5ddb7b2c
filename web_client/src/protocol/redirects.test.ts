import { describe, expect, it } from "vitest";

import { RedirectPacing } from "./redirects";

describe("RedirectPacing", () => {
  it("follows the first redirects at once, then pauses longer each time, up to 8 s", () => {
    const pacing = new RedirectPacing();
    const delays = Array.from({ length: 8 }, () => pacing.next());
    expect(delays).toEqual([0, 0, 1000, 2000, 4000, 8000, 8000, 8000]);
  });

  it("starts afresh once a join succeeds", () => {
    const pacing = new RedirectPacing();
    for (let i = 0; i < 5; i += 1) pacing.next();
    pacing.reset();
    expect([pacing.next(), pacing.next(), pacing.next()]).toEqual([0, 0, 1000]);
  });
});
