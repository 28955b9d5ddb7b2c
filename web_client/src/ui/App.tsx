import type { Session } from "../session";
import { DeviceCheck } from "./DeviceCheck";
import { useRoomState } from "./hooks";
import { RoomView } from "./RoomView";
import { FinalScreen } from "./Screens";
import { WaitingRoom } from "./WaitingRoom";

export function App({ session }: { session: Session }) {
  const state = useRoomState(session);
  switch (state.phase) {
    case "device_check":
      return <DeviceCheck session={session} />;
    case "joining":
      return (
        <main class="page narrow message" aria-labelledby="joining-title">
          <h1 id="joining-title">Joining…</h1>
          <p class="lead" role="status">
            {state.connection === "reconnecting" ? "Trying to reach the server…" : "Connecting you to the session."}
          </p>
        </main>
      );
    case "waiting":
      return <WaitingRoom session={session} state={state} />;
    case "in_room":
      return <RoomView session={session} state={state} />;
    default:
      return <FinalScreen state={state} />;
  }
}
