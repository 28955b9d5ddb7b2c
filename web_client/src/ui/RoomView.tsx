import { useState } from "preact/hooks";
import type { ParticipantView } from "../protocol/types";
import type { Session } from "../session";
import {
  clockTime,
  companions,
  floorHolder,
  isFacilitator,
  listOf,
  nameOf,
  others,
  placeOf,
  spotlighted,
  videoPause,
  type RoomState,
} from "../state/room";
import { Announcer } from "./Announcer";
import { Chat } from "./Chat";
import { Console } from "./Console";
import { Controls, HearingStatus, UnmutePrompt } from "./Controls";
import { ClockWarning, SessionClock } from "./Facilitation";
import { FloorBanner } from "./Floor";
import { useLocalMediaVersion, useRemoteStreams } from "./hooks";
import { ChatIcon } from "./icons";
import { Notice } from "./Notice";
import { Tile, VideoView } from "./Tile";
import { ConnectionBanner } from "./WaitingRoom";

export function RoomView({ session, state }: { session: Session; state: RoomState }) {
  const streams = useRemoteStreams(session);
  useLocalMediaVersion(session); // our tracks, the speaker, shared screens
  const facilitator = isFacilitator(state);
  const [panel, setPanel] = useState<"console" | "chat">(facilitator ? "console" : "chat");
  const me = state.me;
  if (me === null) return null;
  // Only those where we are: the main room, or our side room (their media is all we get).
  const people = companions(state);
  const sessionCount = others(state).length + 1;
  const count = people.length + 1;
  const columns = count <= 1 ? 1 : count <= 4 ? 2 : count <= 9 ? 3 : 4;
  const handPosition = (id: string): number | null => {
    const index = state.handQueue.indexOf(id);
    return index === -1 ? null : index + 1;
  };
  const holder = floorHolder(state);
  const everyone = [me, ...people];
  // A shared screen is large on every screen with its sharer beside it; otherwise the
  // spotlighted person is; everyone else in a strip below.
  const sharer = everyone.find((p) => p.participant_id === state.screenSharerId);
  const screenStream =
    sharer === undefined
      ? null
      : sharer.participant_id === me.participant_id
        ? session.screen
        : (session.remoteScreens.get(sharer.participant_id) ?? null);
  const spotlightId = spotlighted(state);
  const large = sharer ?? everyone.find((p) => p.participant_id === spotlightId);
  const tile = (p: ParticipantView) => {
    const self = p.participant_id === me.participant_id;
    return (
      <Tile
        // Our own tile starts afresh on another camera: the <video> picks up the new track.
        key={self ? `${p.participant_id}:${session.deviceSwitches}` : p.participant_id}
        participant={p}
        stream={self ? session.local.stream : (streams.get(p.participant_id) ?? null)}
        self={self}
        speaking={Boolean(state.speaking[p.participant_id])}
        handPosition={handPosition(p.participant_id)}
        turnNote={turnNote(p.participant_id)}
        spotlighted={p === large && sharer === undefined}
        sinkId={session.speakerId}
        videoPause={self ? null : videoPause(state, p.participant_id)}
        watch={self ? undefined : session.watchTile}
      />
    );
  };
  const turnNote = (id: string): string | null => {
    const self = id === me.participant_id;
    if (id === holder) return state.round !== null ? (self ? "Your turn" : "Their turn") : self ? "You have the floor" : "Has the floor";
    if (state.round !== null && id === state.round.next_id) return "Next";
    return null;
  };
  return (
    <div class="room">
      <header class="room-header">
        <h1 class="room-name">{state.title || "Group session"}</h1>
        <span class="people-count">{sessionCount === 1 ? "Just you" : `${sessionCount} people`}</span>
        {state.settings.locked && <span class="badge">Locked</span>}
        {facilitator && <SessionClock state={state} />}
      </header>
      <Announcer state={state} />
      <ConnectionBanner state={state} />
      {facilitator && <ClockWarning session={session} state={state} />}
      <Notice session={session} state={state} />
      <SideRoomBanner state={state} />
      <FloorBanner session={session} state={state} />
      <UnmutePrompt session={session} state={state} />
      <div class="room-body">
        <main class="stage" aria-label="Participants" tabIndex={0}>
          {sharer !== undefined ? (
            <div class="share-stage">
              <section class="tile screen-tile" aria-label={`${sharer.display_name}'s screen`}>
                <VideoView stream={screenStream} />
                <p class="tile-label">
                  <span class="tile-name">
                    {sharer.participant_id === me.participant_id ? "Your screen" : `${sharer.display_name}'s screen`}
                  </span>
                </p>
              </section>
              {tile(sharer)}
            </div>
          ) : (
            large !== undefined && <div class="spotlight-stage">{tile(large)}</div>
          )}
          <div
            class={large === undefined ? "grid" : "grid strip"}
            style={{ "--columns": String(columns), "--columns-narrow": String(count <= 2 ? 1 : 2) }}
            data-count={count}
          >
            {everyone.filter((p) => p !== large).map(tile)}
          </div>
          {count === 1 && (
            <p class="alone">
              {sessionCount === 1
                ? "You are the first one here. Others will appear as they join."
                : "Everyone else is in a side room for now."}
            </p>
          )}
        </main>
        <aside class="side" aria-label={facilitator ? "Facilitator tools and chat" : "Chat"}>
          {facilitator && (
            <div class="tabs" role="group" aria-label="Show">
              <button type="button" class="tab" aria-pressed={panel === "console"} onClick={() => setPanel("console")}>
                People{state.waiting.length > 0 ? ` (${state.waiting.length} waiting)` : ""}
              </button>
              <button type="button" class="tab" aria-pressed={panel === "chat"} onClick={() => setPanel("chat")}>
                <ChatIcon size={16} /> Chat
              </button>
            </div>
          )}
          {facilitator && panel === "console" ? <Console session={session} state={state} /> : <Chat session={session} state={state} />}
        </aside>
      </div>
      <footer class="bar">
        <HearingStatus state={state} />
        <Controls session={session} state={state} />
      </footer>
    </div>
  );
}

/** Where people are: to someone aside, who they are with; to the main room, who is
 * aside and with whom (never what is said there). */
function SideRoomBanner({ state }: { state: RoomState }) {
  const me = state.me;
  if (me === null || state.sideRooms.length === 0) return null;
  const mine = placeOf(state, me.participant_id);
  const names = (ids: string[]) => listOf(ids.filter((id) => id !== me.participant_id).map((id) => nameOf(state, id)));
  if (mine !== null) {
    const room = state.sideRooms.find((r) => r.side_room_id === mine);
    const others = room === undefined ? "" : names(room.participant_ids);
    return (
      <section class="side-banner" aria-label="Side room">
        <p>
          <strong>You are in a side room{others === "" ? "" : ` with ${others}`}.</strong> The group cannot see or hear
          you here, and you cannot see or hear them.
          {room?.ends_at != null && ` You will be back with the group at ${clockTime(room.ends_at)}.`}
        </p>
      </section>
    );
  }
  return (
    <section class="side-banner" aria-label="Side rooms">
      <ul>
        {state.sideRooms.map((room) => {
          const [first, ...rest] = room.participant_ids.map((id) => nameOf(state, id));
          return (
            <li key={room.side_room_id}>
              {rest.length === 0 ? `${first} is in a side room.` : `${first} is with ${listOf(rest)} in a side room.`}
            </li>
          );
        })}
      </ul>
    </section>
  );
}
