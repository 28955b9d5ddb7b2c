// Following ``wrong_node`` redirects (docs/protocol.md, "Several processes"): the join
// is sent to the node that serves the room. While a room moves (a node failed, Redis is
// settling), two nodes can each say the other has it; followed at once every time, the
// page would ask them in a tight loop. The first redirects in a row are followed at once,
// then with a growing pause, until a join succeeds.

const IMMEDIATE_REDIRECTS = 2;
const REDIRECT_PAUSE_FIRST_MS = 1000;
const REDIRECT_PAUSE_MAX_MS = 8000;

export class RedirectPacing {
  private inARow = 0;

  /** How long to wait before following the next redirect (0: at once). */
  next(): number {
    const count = this.inARow;
    this.inARow += 1;
    if (count < IMMEDIATE_REDIRECTS) return 0;
    return Math.min(REDIRECT_PAUSE_MAX_MS, REDIRECT_PAUSE_FIRST_MS * 2 ** (count - IMMEDIATE_REDIRECTS));
  }

  /** A join succeeded: the next redirect is a new story. */
  reset(): void {
    this.inARow = 0;
  }
}
