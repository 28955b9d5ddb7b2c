import { describe, expect, it } from "vitest";
import { Store } from "./store";

type Count = { n: number };
type Step = { type: "add"; by: number } | { type: "same" };

function count(state: Count, action: Step): Count {
  return action.type === "add" ? { n: state.n + action.by } : state;
}

describe("Store", () => {
  it("tells its listeners of a new state only", () => {
    const store = new Store(count, { n: 0 });
    const seen: number[] = [];
    store.subscribe((s) => seen.push(s.n));
    store.dispatch({ type: "same" });
    store.dispatch({ type: "add", by: 2 });
    expect(seen).toEqual([2]);
    expect(store.current.n).toBe(2);
  });

  it("stops telling a listener that unsubscribed", () => {
    const store = new Store(count, { n: 0 });
    const seen: number[] = [];
    const unsubscribe = store.subscribe((s) => seen.push(s.n));
    store.dispatch({ type: "add", by: 1 });
    unsubscribe();
    store.dispatch({ type: "add", by: 1 });
    expect(seen).toEqual([1]);
  });
});
