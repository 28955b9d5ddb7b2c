// One observable store for both pages: a state, the pure reducer that moves it, and the
// listeners told of each change. The member/facilitator room and the operator page each
// bring their own state and reducer; neither holds state anywhere else.

export type Reducer<S, A> = (state: S, action: A) => S;
export type Listener<S> = (state: S) => void;

export class Store<S, A> {
  private state: S;
  private readonly listeners = new Set<Listener<S>>();

  constructor(
    private readonly reducer: Reducer<S, A>,
    initial: S,
  ) {
    this.state = initial;
  }

  get current(): S {
    return this.state;
  }

  /** Moves the state; listeners hear of it only when the reducer returned a new state. */
  dispatch(action: A): void {
    const next = this.reducer(this.state, action);
    if (next === this.state) return;
    this.state = next;
    for (const listener of this.listeners) listener(next);
  }

  subscribe(listener: Listener<S>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
