import { useEffect, useState } from "preact/hooks";
import type { RemoteStreams } from "../media/peers";
import type { Session } from "../session";
import type { RoomState } from "../state/room";

export function useRoomState(session: Session): RoomState {
  const [state, setState] = useState(session.state);
  useEffect(() => {
    setState(session.state);
    return session.store.subscribe(setState);
  }, [session]);
  return state;
}

export function useRemoteStreams(session: Session): RemoteStreams {
  const [streams, setStreams] = useState(session.remote);
  useEffect(() => {
    setStreams(session.remote);
    return session.onRemote(setStreams);
  }, [session]);
  return streams;
}
