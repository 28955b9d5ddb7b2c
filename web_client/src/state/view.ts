// What we show of each remote camera, as the server hears it (`report_view`,
// docs/protocol.md "Simulcast and bandwidth"): the server forwards each camera at the
// layer that fits the tile, none at all to a tile nobody can see. The DOM side
// (media/tileWatcher.ts) only sights tiles; what is reported, and when, is decided here.

/** Mirrors signaling/schemas.py: at most this many tiles, sizes up to this. */
export const MAX_REPORTED_TILES = 64;
export const MAX_TILE_PIXELS = 16384;
/** Quiet this long after the last change before we report (layout settles in bursts). */
export const REPORT_DEBOUNCE_MS = 300;

/** A tile as the browser sees it: on screen or not, and its size in device pixels. */
export interface TileSighting {
  intersecting: boolean;
  width: number;
  height: number;
}

/** One row of `report_view`. */
export interface TileReport {
  participant_id: string;
  visible: boolean;
  width: number;
  height: number;
}

function pixels(value: number): number {
  if (!Number.isFinite(value)) return 0;
  return Math.min(MAX_TILE_PIXELS, Math.max(0, Math.round(value)));
}

/**
 * The report for these remote participants: a tile that is on screen (and has a size)
 * is visible at its size; one that is not, or that has no tile, or any while the page
 * is hidden, is not visible (size 0), so the server sends none of that video.
 */
export function viewReport(
  participantIds: readonly string[],
  sightings: ReadonlyMap<string, TileSighting>,
  pageVisible: boolean,
): TileReport[] {
  return [...new Set(participantIds)].slice(0, MAX_REPORTED_TILES).map((participant_id) => {
    const seen = sightings.get(participant_id);
    const width = pixels(seen?.width ?? 0);
    const height = pixels(seen?.height ?? 0);
    const visible = pageVisible && seen !== undefined && seen.intersecting && width > 0 && height > 0;
    return visible ? { participant_id, visible, width, height } : { participant_id, visible, width: 0, height: 0 };
  });
}

export function sameReport(a: readonly TileReport[], b: readonly TileReport[]): boolean {
  return (
    a.length === b.length &&
    a.every((tile, i) => {
      const other = b[i];
      return (
        tile.participant_id === other.participant_id &&
        tile.visible === other.visible &&
        tile.width === other.width &&
        tile.height === other.height
      );
    })
  );
}

export interface Timers {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const WINDOW_TIMERS: Timers = {
  set: (callback, ms) => setTimeout(callback, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * Sends the view when it has changed and stayed so for the debounce; one report in
 * flight at a time (a change meanwhile goes out after it). Reports only between
 * `start` (our subscribe connection exists) and `stop`; `start` again after a rejoin
 * or a media recovery sends the view afresh, since the server forgot it.
 */
export class ViewReporter {
  private participants: string[] = [];
  private readonly sightings = new Map<string, TileSighting>();
  private pageVisible = true;
  /** The last report the server acknowledged (null: it knows none). */
  private acknowledged: TileReport[] | null = null;
  private timer: unknown = null;
  private sending = false;
  private again = false;
  private running = false;
  /** Counts starts: a report acknowledged for an earlier subscribe connection does not count. */
  private generation = 0;

  constructor(
    private readonly send: (tiles: TileReport[]) => Promise<unknown>,
    private readonly delayMs = REPORT_DEBOUNCE_MS,
    private readonly timers: Timers = WINDOW_TIMERS,
  ) {}

  /** The remote participants whose cameras we may show. */
  setParticipants(ids: readonly string[]): void {
    if (ids.length === this.participants.length && ids.every((id, i) => id === this.participants[i])) return;
    this.participants = [...ids];
    this.changed();
  }

  sight(participantId: string, sighting: TileSighting): void {
    this.sightings.set(participantId, { ...sighting });
    this.changed();
  }

  /** Their tile is gone (they left, or it moved and is sighted anew). */
  forget(participantId: string): void {
    if (this.sightings.delete(participantId)) this.changed();
  }

  setPageVisible(visible: boolean): void {
    if (this.pageVisible === visible) return;
    this.pageVisible = visible;
    this.changed();
  }

  /** What would be reported now. */
  current(): TileReport[] {
    return viewReport(this.participants, this.sightings, this.pageVisible);
  }

  start(): void {
    this.running = true;
    this.generation += 1;
    this.acknowledged = null;
    this.changed();
  }

  stop(): void {
    this.running = false;
    this.acknowledged = null;
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
  }

  private changed(): void {
    if (!this.running) return;
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = this.timers.set(() => {
      this.timer = null;
      void this.flush();
    }, this.delayMs);
  }

  private async flush(): Promise<void> {
    if (!this.running) return;
    if (this.sending) {
      this.again = true;
      return;
    }
    const report = this.current();
    if (this.acknowledged !== null && sameReport(report, this.acknowledged)) return;
    this.sending = true;
    const generation = this.generation;
    try {
      await this.send(report);
      if (this.running && generation === this.generation) this.acknowledged = report;
      else this.again = true;
    } catch (error) {
      // The next change tries again; nothing is lost but precision meanwhile.
      console.warn("could not report what we show:", String(error));
    } finally {
      this.sending = false;
      if (this.again) {
        this.again = false;
        this.changed();
      }
    }
  }
}
