// The operator page: live rooms by pseudonymous id, connection quality, server load and
// alerts, fed by the `/operator` push. It never joins a room and never touches media.

import { useEffect, useMemo, useState } from "preact/hooks";
import { endRoom } from "./api";
import { EndRoomDialog } from "./EndRoomDialog";
import { OperatorFeed } from "./feed";
import { OPERATOR_TOKEN_COMMAND, refusalExplanation } from "./link";
import { AlertsPanel, ConnectionStatus, Legend, ServerPanel, Toolbar } from "./Panels";
import { RoomCard } from "./RoomCard";
import { useStore } from "../ui/hooks";
import { createOperatorStore, visibleRooms } from "./store";
import "./operator.css";

export { operatorTokenFromFragment } from "./link";

/** The client clock, ticking each second: for "no update for N s". */
function useNowMs(): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  return now;
}

export function OperatorApp({ token }: { token: string }) {
  const store = useMemo(() => createOperatorStore(token !== ""), [token]);
  useEffect(() => {
    document.title = "Operator · Group session";
    if (token === "") return;
    const feed = new OperatorFeed(token, store);
    feed.connect();
    return () => feed.close();
  }, [store, token]);
  const state = useStore(store);
  const nowMs = useNowMs();
  const [ending, setEnding] = useState<string | null>(null);

  const { connection } = state;
  if (connection.status === "no_token" || connection.status === "refused") {
    const refusal =
      connection.status === "refused" ? connection.refusal : { code: "no_token", message: "the link has no token" };
    const { title, advice } = refusalExplanation(refusal);
    return (
      <main class="page narrow message op-refused" aria-labelledby="op-refused-title">
        <h1 id="op-refused-title">{title}</h1>
        <p class="lead" role="alert">
          {advice} <code class="op-command">{OPERATOR_TOKEN_COMMAND}</code>
        </p>
        <p class="fine-print">
          The server said: <code data-refusal-code>{refusal.code}</code>
          {refusal.message !== "" && <> — {refusal.message}</>}
        </p>
      </main>
    );
  }

  const snapshot = state.snapshot;
  const rooms = visibleRooms(state);
  const now = snapshot?.at ?? nowMs / 1000;
  const endedNotices = Object.entries(state.endings).filter(([, e]) => e.status === "ended");

  const submitEnd = async (roomRef: string, reason: string) => {
    store.dispatch({ type: "end_sending", roomRef, reason });
    try {
      await endRoom(token, roomRef, reason);
      store.dispatch({ type: "end_done", roomRef });
      setEnding(null);
    } catch (error) {
      store.dispatch({ type: "end_failed", roomRef, message: error instanceof Error ? error.message : String(error) });
    }
  };

  return (
    <div class="op-page">
      <header class="op-header">
        <h1>Operator · live sessions</h1>
        <ConnectionStatus state={state} nowMs={nowMs} />
      </header>
      <main class={`op-main${connection.status === "live" ? "" : " op-main-stale"}`}>
        <AlertsPanel state={state} />
        {endedNotices.length > 0 && (
          <ul class="op-notices" role="status">
            {endedNotices.map(([ref, e]) => (
              <li key={ref}>
                You ended <span class="op-ref">{ref}</span>: “{e.reason}”
              </li>
            ))}
          </ul>
        )}
        <div class="op-overview">
          <ServerPanel server={snapshot?.server ?? null} />
          <Legend />
        </div>
        <section class="op-rooms" aria-labelledby="op-rooms-title">
          <h2 id="op-rooms-title">Live rooms{snapshot !== null && ` (${snapshot.rooms.length})`}</h2>
          <Toolbar
            view={state.view}
            shown={rooms.length}
            total={snapshot?.rooms.length ?? 0}
            onView={(patch) => store.dispatch({ type: "view", patch })}
            onSort={(key) => store.dispatch({ type: "sort", key })}
          />
          {snapshot === null ? (
            <p class="op-soft">Waiting for the first update from the server…</p>
          ) : snapshot.rooms.length === 0 ? (
            <p class="op-empty">No live rooms.</p>
          ) : rooms.length === 0 ? (
            <p class="op-empty">No room matches the filters.</p>
          ) : (
            rooms.map((room) => (
              <RoomCard
                key={room.room_ref}
                room={room}
                alerts={snapshot.alerts}
                view={state.view}
                now={now}
                onEnd={setEnding}
              />
            ))
          )}
        </section>
      </main>
      {ending !== null && (
        <EndRoomDialog
          roomRef={ending}
          ending={state.endings[ending]}
          onEnd={(reason) => void submitEnd(ending, reason)}
          onClose={() => setEnding(null)}
        />
      )}
    </div>
  );
}
