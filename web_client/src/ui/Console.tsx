import { useState } from "preact/hooks";
import type { ParticipantView, Role } from "../protocol/types";
import type { Session } from "../session";
import { clockTime, listOf, nameOf, others, placeOf, type RoomState } from "../state/room";
import { ConfirmDialog } from "./Dialog";
import { BalanceBlock, SessionBlock, SpeakingBlock } from "./Facilitation";
import { CameraOffIcon, CheckInIcon, HandIcon, LockIcon, MicOffIcon, SpotlightIcon } from "./icons";

const RANK: Record<Role, number> = { facilitator: 3, cofacilitator: 2, member: 1, observer: 0 };

type Confirming = { kind: "end" } | { kind: "remove"; participant: ParticipantView } | null;

/** The facilitator's console: who waits, who has a hand up, and one click per action. */
export function Console({ session, state }: { session: Session; state: RoomState }) {
  const me = state.me;
  const [confirming, setConfirming] = useState<Confirming>(null);
  const [floorSeconds, setFloorSeconds] = useState(0);
  if (me === null) return null;
  const people = others(state);
  const run = session.command.bind(session);
  const lead = me.role === "facilitator";
  // Giving the floor is refused while a round runs (the round decides who speaks).
  const mayGiveFloor = state.round === null;
  const giveFloor = (participantId?: string) =>
    void run("give_floor", {
      ...(participantId === undefined ? {} : { participant_id: participantId }),
      ...(floorSeconds > 0 ? { seconds: floorSeconds } : {}),
    });
  return (
    <section class="panel console" aria-labelledby="console-title">
      <h2 id="console-title">Facilitator</h2>

      <CheckInsBlock session={session} state={state} />

      <section aria-labelledby="waiting-list-title" class="console-block">
        <h3 id="waiting-list-title">
          Waiting room <span class="count">{state.waiting.length}</span>
        </h3>
        {state.waiting.length === 0 ? (
          <p class="empty">Nobody is waiting.</p>
        ) : (
          <>
            <ul class="people">
              {state.waiting.map((p) => (
                <li key={p.participant_id} class="person">
                  <span class="person-name">{p.display_name}</span>
                  {!p.accepted_ground_rules && state.groundRules.trim() !== "" && (
                    <span class="person-note">Reading the ground rules</span>
                  )}
                  <span class="person-actions">
                    <button
                      type="button"
                      class="small primary"
                      disabled={!p.accepted_ground_rules}
                      onClick={() => void run("admit", { participant_id: p.participant_id })}
                    >
                      <span>Admit<span class="sr-only"> {p.display_name}</span></span>
                    </button>
                    <button
                      type="button"
                      class="small secondary"
                      onClick={() => void run("deny", { participant_id: p.participant_id })}
                    >
                      <span>Deny<span class="sr-only"> {p.display_name}</span></span>
                    </button>
                  </span>
                </li>
              ))}
            </ul>
            <button type="button" class="secondary" onClick={() => void run("admit_all", {})}>
              Admit all
            </button>
          </>
        )}
      </section>

      <SpeakingBlock session={session} state={state} floorSeconds={floorSeconds} onFloorSeconds={setFloorSeconds} />

      <section aria-labelledby="hands-title" class="console-block">
        <h3 id="hands-title">
          Raised hands <span class="count">{state.handQueue.length}</span>
        </h3>
        {state.handQueue.length === 0 ? (
          <p class="empty">No hands raised.</p>
        ) : (
          <ol class="hand-queue" aria-labelledby="hands-title">
            {state.handQueue.map((id) => {
              const name = nameOf(state, id);
              return (
                <li key={id} class="person">
                  <HandIcon size={16} />
                  <span class="person-name">{name}</span>
                  {id !== me.participant_id && (
                    <button
                      type="button"
                      class="small secondary"
                      onClick={() => void run("lower_hand", { participant_id: id })}
                    >
                      <span>Lower<span class="sr-only"> {name}'s</span> hand</span>
                    </button>
                  )}
                </li>
              );
            })}
          </ol>
        )}
        {mayGiveFloor && state.handQueue.length > 0 && (
          <button type="button" class="secondary" onClick={() => giveFloor()}>
            Give floor to next
          </button>
        )}
      </section>

      <section aria-labelledby="people-title" class="console-block">
        <h3 id="people-title">
          In the room <span class="count">{people.length}</span>
        </h3>
        {people.length === 0 && <p class="empty">Nobody else is here yet.</p>}
        <ul class="people">
          {people.map((p) => {
            const name = p.display_name;
            const id = { participant_id: p.participant_id };
            const mayAct = RANK[me.role] >= RANK[p.role] && p.role !== "observer";
            const heldOff = !p.microphone.on && p.microphone.held;
            const inSpotlight = state.spotlightId === p.participant_id;
            const mayShare = state.screenShareAllowed.includes(p.participant_id);
            const sharing = state.screenSharerId === p.participant_id;
            return (
              <li key={p.participant_id} class="person">
                <span class="person-name">
                  {name}
                  {p.role !== "member" && <span class="person-note"> {roleName(p.role)}</span>}
                </span>
                <span class="person-status">
                  {!p.microphone.on && (
                    <span title="Microphone off">
                      <MicOffIcon size={16} />
                      <span class="sr-only">Microphone off{heldOff ? " (muted by a facilitator)" : ""}</span>
                    </span>
                  )}
                  {!p.camera.on && (
                    <span title="Camera off">
                      <CameraOffIcon size={16} />
                      <span class="sr-only">Camera off</span>
                    </span>
                  )}
                </span>
                {p.role !== "observer" && (
                  <span class="person-actions">
                    <button
                      type="button"
                      class="small secondary"
                      aria-pressed={inSpotlight}
                      onClick={() => void run(inSpotlight ? "clear_spotlight" : "spotlight", inSpotlight ? {} : id)}
                    >
                      <span>
                        {inSpotlight ? "Remove spotlight" : "Spotlight"}
                        <span class="sr-only"> {inSpotlight ? "from" : ""} {name}</span>
                      </span>
                    </button>
                  </span>
                )}
                {mayAct && (
                  <span class="person-actions">
                    {mayGiveFloor && state.floor.holder_id !== p.participant_id && (
                      <button type="button" class="small secondary" onClick={() => giveFloor(p.participant_id)}>
                        <span>Give floor<span class="sr-only"> to {name}</span></span>
                      </button>
                    )}
                    {!heldOff && (
                      <button type="button" class="small secondary" onClick={() => void run("mute", { ...id, device: "microphone" })}>
                        <span>Mute<span class="sr-only"> {name}</span></span>
                      </button>
                    )}
                    {!p.microphone.on && (
                      <button
                        type="button"
                        class="small secondary"
                        onClick={() => void run("ask_to_unmute", { ...id, device: "microphone" })}
                      >
                        <span>Ask<span class="sr-only"> {name}</span> to unmute</span>
                      </button>
                    )}
                    {heldOff && !state.settings.self_unmute_allowed && (
                      <button
                        type="button"
                        class="small secondary"
                        onClick={() => void run("allow_unmute", { ...id, device: "microphone" })}
                      >
                        <span>Let<span class="sr-only"> {name}</span> unmute</span>
                      </button>
                    )}
                    {p.camera.on && (
                      <button type="button" class="small secondary" onClick={() => void run("mute", { ...id, device: "camera" })}>
                        <span>Turn off<span class="sr-only"> {name}'s</span> camera</span>
                      </button>
                    )}
                    {placeOf(state, p.participant_id) === null && placeOf(state, me.participant_id) === null && (
                      <button
                        type="button"
                        class="small secondary"
                        onClick={() => void run("open_side_room", { participant_ids: [me.participant_id, p.participant_id] })}
                      >
                        <span>Take<span class="sr-only"> {name}</span> aside</span>
                      </button>
                    )}
                    {sharing && (
                      <button type="button" class="small secondary" onClick={() => void run("stop_screen_share", id)}>
                        <span>Stop<span class="sr-only"> {name}'s</span> screen share</span>
                      </button>
                    )}
                    {p.role === "member" && (
                      <button
                        type="button"
                        class="small secondary"
                        aria-pressed={mayShare}
                        onClick={() => void run("allow_screen_share", { ...id, allowed: !mayShare })}
                      >
                        <span>
                          {mayShare ? "Take back screen share" : "Allow screen share"}
                          <span class="sr-only"> {mayShare ? "from" : "for"} {name}</span>
                        </span>
                      </button>
                    )}
                    <button type="button" class="small danger-quiet" onClick={() => setConfirming({ kind: "remove", participant: p })}>
                      <span>Remove<span class="sr-only"> {name}</span></span>
                    </button>
                  </span>
                )}
              </li>
            );
          })}
        </ul>
      </section>

      <SideRoomsBlock session={session} state={state} />

      <BalanceBlock state={state} />

      <section aria-labelledby="room-controls-title" class="console-block">
        <h3 id="room-controls-title">The room</h3>
        <div class="room-controls">
          <button type="button" class="secondary" onClick={() => void run("mute_all", {})}>
            <MicOffIcon size={16} />
            <span>Mute all</span>
          </button>
          <button
            type="button"
            class="secondary toggle"
            aria-pressed={state.settings.self_unmute_allowed}
            onClick={() => void session.updateSettings({ self_unmute_allowed: !state.settings.self_unmute_allowed })}
          >
            <span class="toggle-mark" aria-hidden="true" />
            <span>Members may unmute themselves</span>
          </button>
          <button
            type="button"
            class="secondary toggle"
            aria-pressed={state.settings.chat_enabled}
            onClick={() => void session.updateSettings({ chat_enabled: !state.settings.chat_enabled })}
          >
            <span class="toggle-mark" aria-hidden="true" />
            <span>Members may chat</span>
          </button>
          <button
            type="button"
            class="secondary toggle"
            aria-pressed={state.settings.spotlight_follows_floor}
            onClick={() =>
              void session.updateSettings({ spotlight_follows_floor: !state.settings.spotlight_follows_floor })
            }
          >
            <span class="toggle-mark" aria-hidden="true" />
            <span>Spotlight whoever has the floor</span>
          </button>
          {state.spotlightId !== null && (
            <button type="button" class="secondary" onClick={() => void run("clear_spotlight", {})}>
              <SpotlightIcon size={16} />
              <span>Remove the spotlight from {nameOf(state, state.spotlightId)}</span>
            </button>
          )}
          <button
            type="button"
            class={state.settings.locked ? "secondary locked" : "secondary"}
            onClick={() => void session.updateSettings({ locked: !state.settings.locked })}
          >
            <LockIcon size={16} />
            <span>{state.settings.locked ? "Unlock room" : "Lock room"}</span>
          </button>
          {state.settings.locked && <p class="fine-print">Locked: nobody new can join. People who were here can come back.</p>}
        </div>
      </section>

      <SessionBlock session={session} state={state} />

      <section aria-label="End the session" class="console-block end-block">
        {lead ? (
          <button type="button" class="danger end" onClick={() => setConfirming({ kind: "end" })}>
            End session
          </button>
        ) : (
          <p class="fine-print">Only the lead facilitator can end the session or change the ground rules.</p>
        )}
      </section>

      {confirming?.kind === "end" && (
        <ConfirmDialog
          title="End the session for everyone?"
          body="Everyone will leave the session, and nobody can join it again with their link."
          confirm="Yes, end the session"
          onCancel={() => setConfirming(null)}
          onConfirm={() => {
            setConfirming(null);
            void run("end_session", { reason: "ended" });
          }}
        />
      )}
      {confirming?.kind === "remove" && (
        <ConfirmDialog
          title={`Remove ${confirming.participant.display_name}?`}
          body="They will leave the session now and cannot join it again."
          confirm="Yes, remove"
          onCancel={() => setConfirming(null)}
          onConfirm={() => {
            const target = confirming.participant.participant_id;
            setConfirming(null);
            void run("remove", { participant_id: target });
          }}
        />
      )}
    </section>
  );
}

const SIDE_ROOM_MINUTES = [0, 5, 10, 15, 20];

/** Side rooms: who is where, moving between them, bringing people back, and a new one
 * for a pair or a small group (with or without a facilitator). */
function SideRoomsBlock({ session, state }: { session: Session; state: RoomState }) {
  const [chosen, setChosen] = useState<string[]>([]);
  const [withMe, setWithMe] = useState(false);
  const [minutes, setMinutes] = useState(0);
  const me = state.me;
  if (me === null) return null;
  const run = session.command.bind(session);
  const mine = placeOf(state, me.participant_id);
  const inMain = others(state).filter((p) => p.role !== "observer" && placeOf(state, p.participant_id) === null);
  const picked = chosen.filter((id) => inMain.some((p) => p.participant_id === id));
  const open = async () => {
    const ids = withMe && mine === null ? [me.participant_id, ...picked] : picked;
    const ok = await run("open_side_room", { participant_ids: ids, ...(minutes > 0 ? { seconds: minutes * 60 } : {}) });
    if (ok) setChosen([]);
  };
  return (
    <section aria-labelledby="side-rooms-title" class="console-block">
      <h3 id="side-rooms-title">
        Side rooms <span class="count">{state.sideRooms.length}</span>
      </h3>
      {state.sideRooms.length === 0 ? (
        <p class="empty">Everyone is with the group.</p>
      ) : (
        <>
          <ul class="side-rooms">
            {state.sideRooms.map((room) => {
              const names = listOf(room.participant_ids.map((id) => (id === me.participant_id ? "you" : nameOf(state, id))));
              const here = mine === room.side_room_id;
              return (
                <li key={room.side_room_id}>
                  <span class="person-name">{names}</span>
                  <span class="person-note">{room.ends_at === null ? "no time limit" : `until ${clockTime(room.ends_at)}`}</span>
                  <button
                    type="button"
                    class="small secondary"
                    onClick={() =>
                      void run("move_to_side_room", {
                        participant_id: me.participant_id,
                        side_room_id: here ? null : room.side_room_id,
                      })
                    }
                  >
                    <span>{here ? "Back to the group" : <>Join<span class="sr-only"> the side room with {names}</span></>}</span>
                  </button>
                  <button
                    type="button"
                    class="small secondary"
                    onClick={() => void run("close_side_room", { side_room_id: room.side_room_id })}
                  >
                    <span>
                      Bring back<span class="sr-only"> {names}</span>
                    </span>
                  </button>
                </li>
              );
            })}
          </ul>
          <button type="button" class="secondary" onClick={() => void run("bring_everyone_back", {})}>
            Bring everyone back
          </button>
        </>
      )}
      {inMain.length > 0 && (
        <fieldset class="chosen-order">
          <legend>A new side room</legend>
          {inMain.map((p) => (
            <label key={p.participant_id} class="check">
              <input
                type="checkbox"
                checked={picked.includes(p.participant_id)}
                onChange={(e) =>
                  setChosen(
                    e.currentTarget.checked
                      ? [...picked, p.participant_id]
                      : picked.filter((id) => id !== p.participant_id),
                  )
                }
              />
              {p.display_name}
            </label>
          ))}
          {mine === null && (
            <label class="check">
              <input type="checkbox" checked={withMe} onChange={(e) => setWithMe(e.currentTarget.checked)} />
              With me
            </label>
          )}
          <label class="field">
            <span>For</span>
            <select value={String(minutes)} onChange={(e) => setMinutes(Number(e.currentTarget.value))}>
              {SIDE_ROOM_MINUTES.map((m) => (
                <option key={m} value={String(m)}>
                  {m === 0 ? "until I bring them back" : `${m} minutes`}
                </option>
              ))}
            </select>
          </label>
          <button type="button" class="secondary" disabled={picked.length === 0} onClick={() => void open()}>
            Open side room
          </button>
        </fieldset>
      )}
    </section>
  );
}

/** Members who asked, privately, that a facilitator check in with them; oldest first. */
function CheckInsBlock({ session, state }: { session: Session; state: RoomState }) {
  const [shownWhileSharing, setShownWhileSharing] = useState(false);
  if (state.checkIns.length === 0) return null;
  // Our shared screen may show this page: names stay hidden unless we ask for them.
  const sharing = state.screenSharerId !== null && state.screenSharerId === state.me?.participant_id;
  if (sharing && !shownWhileSharing) {
    return (
      <section aria-labelledby="check-ins-title" class="console-block">
        <h3 id="check-ins-title">
          <CheckInIcon size={16} /> Asked to check in <span class="count">{state.checkIns.length}</span>
        </h3>
        <p class="fine-print">Hidden while you share your screen.</p>
        <button type="button" class="small secondary" onClick={() => setShownWhileSharing(true)}>
          Show them anyway
        </button>
      </section>
    );
  }
  return (
    <section aria-labelledby="check-ins-title" class="console-block">
      <h3 id="check-ins-title">
        <CheckInIcon size={16} /> Asked to check in <span class="count">{state.checkIns.length}</span>
      </h3>
      <p class="fine-print">Only facilitators see these requests.</p>
      <ul class="check-ins">
        {state.checkIns.map((c) => {
          const name = nameOf(state, c.participant_id);
          return (
            <li key={c.participant_id}>
              <span class="person-name">{name}</span>
              <time dateTime={new Date(c.requested_at * 1000).toISOString()}>since {clockTime(c.requested_at)}</time>
              <button
                type="button"
                class="small primary"
                onClick={() => void session.command("acknowledge_check_in", { participant_id: c.participant_id })}
              >
                <span>
                  I'll check in<span class="sr-only"> with {name}</span>
                </span>
              </button>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

function roleName(role: Role): string {
  return role === "cofacilitator" ? "co-facilitator" : role;
}
