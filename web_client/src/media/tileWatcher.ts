// Sights remote camera tiles for the view report (state/view.ts): whether each is on
// screen (IntersectionObserver: scrolled away, or clipped by the stage, is not) and its
// rendered size in device pixels (ResizeObserver), and whether the page is shown at all.

import type { ViewReporter } from "../state/view";

interface Sighting {
  participantId: string;
  intersecting: boolean;
  width: number;
  height: number;
}

export class TileWatcher {
  private readonly tiles = new Map<Element, Sighting>();
  private readonly intersections: IntersectionObserver | null;
  private readonly sizes: ResizeObserver | null;
  private readonly visibility = (): void => this.reporter.setPageVisible(document.visibilityState !== "hidden");

  constructor(private readonly reporter: ViewReporter) {
    // Browsers without them report nothing: the server then sends every camera at the
    // best layer that fits, as it does for any client that does not report.
    this.intersections =
      typeof IntersectionObserver === "undefined"
        ? null
        : new IntersectionObserver((entries) => {
            for (const entry of entries) this.update(entry.target, { intersecting: entry.isIntersecting });
          });
    this.sizes =
      typeof ResizeObserver === "undefined"
        ? null
        : new ResizeObserver((entries) => {
            for (const entry of entries) this.update(entry.target, deviceSize(entry));
          });
    if (typeof document !== "undefined") {
      document.addEventListener("visibilitychange", this.visibility);
      this.visibility();
    }
  }

  /** Watch one remote participant's tile; returns the unwatch. */
  watch(participantId: string, element: Element): () => void {
    if (this.intersections === null || this.sizes === null) return () => undefined;
    this.tiles.set(element, { participantId, intersecting: false, width: 0, height: 0 });
    this.intersections.observe(element);
    this.sizes.observe(element);
    return () => {
      this.intersections?.unobserve(element);
      this.sizes?.unobserve(element);
      const sighting = this.tiles.get(element);
      this.tiles.delete(element);
      // Another element may show them by now (their tile moved to the spotlight).
      if (sighting !== undefined && ![...this.tiles.values()].some((s) => s.participantId === participantId)) {
        this.reporter.forget(participantId);
      }
    };
  }

  private update(element: Element, change: Partial<Sighting>): void {
    const sighting = this.tiles.get(element);
    if (sighting === undefined) return;
    Object.assign(sighting, change);
    this.reporter.sight(sighting.participantId, sighting);
  }

  close(): void {
    this.intersections?.disconnect();
    this.sizes?.disconnect();
    this.tiles.clear();
    if (typeof document !== "undefined") document.removeEventListener("visibilitychange", this.visibility);
  }
}

/** The rendered size in device pixels: exact where the browser gives it, else CSS
 * pixels times the device pixel ratio. */
function deviceSize(entry: ResizeObserverEntry): { width: number; height: number } {
  const exact = entry.devicePixelContentBoxSize?.[0];
  if (exact !== undefined) return { width: exact.inlineSize, height: exact.blockSize };
  const ratio = window.devicePixelRatio || 1;
  return { width: entry.contentRect.width * ratio, height: entry.contentRect.height * ratio };
}
