import { useEffect, useState } from "preact/hooks";
import type { RemoteStreams } from "../media/peers";
import type { Session } from "../session";
import type { RoomState } from "../state/room";
import type { Store } from "../state/store";

/** The store's current state, re-rendering on each change. */
export function useStore<S, A>(store: Store<S, A>): S {
  const [state, setState] = useState(store.current);
  useEffect(() => {
    setState(store.current);
    return store.subscribe(setState);
  }, [store]);
  return state;
}

export function useRoomState(session: Session): RoomState {
  return useStore(session.store);
}

export function useRemoteStreams(session: Session): RemoteStreams {
  const [streams, setStreams] = useState(session.remote);
  useEffect(() => {
    setStreams(session.remote);
    return session.onRemote(setStreams);
  }, [session]);
  return streams;
}

/** A number that changes whenever our own tracks or the chosen speaker change. */
export function useLocalMediaVersion(session: Session): number {
  const [version, setVersion] = useState(0);
  useEffect(() => session.onLocal(() => setVersion((v) => v + 1)), [session]);
  return version;
}

/** The local clock in Unix seconds, ticking while `active` (countdowns use the local clock). */
export function useNow(active: boolean, intervalMs = 500): number {
  const [now, setNow] = useState(() => Date.now() / 1000);
  useEffect(() => {
    if (!active) return;
    setNow(Date.now() / 1000);
    const timer = window.setInterval(() => setNow(Date.now() / 1000), intervalMs);
    return () => window.clearInterval(timer);
  }, [active, intervalMs]);
  return now;
}
