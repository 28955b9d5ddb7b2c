import { useEffect, useRef, useState } from "preact/hooks";
import type { Session } from "../session";
import { isFacilitator, type RoomState } from "../state/room";

function time(seconds: number): string {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** Messages live only in this page: the server delivers them and keeps nothing. */
export function Chat({ session, state }: { session: Session; state: RoomState }) {
  const facilitator = isFacilitator(state);
  const roomChatOpen = facilitator || state.settings.chat_enabled;
  const [text, setText] = useState("");
  const [toFacilitators, setToFacilitators] = useState(false);
  const [sending, setSending] = useState(false);
  const log = useRef<HTMLOListElement>(null);
  const privately = toFacilitators || !roomChatOpen;

  useEffect(() => {
    const list = log.current;
    if (list !== null) list.scrollTop = list.scrollHeight;
  }, [state.chat.length]);

  const send = async (event: Event) => {
    event.preventDefault();
    const message = text.trim();
    if (message === "" || sending) return;
    setSending(true);
    const sent = await session.command("send_chat", { text: message, to_facilitators: privately });
    setSending(false);
    if (sent) setText(""); // cleared only once the server took it
  };

  return (
    <section class="panel chat" aria-labelledby="chat-title">
      <h2 id="chat-title">Chat</h2>
      <p class="fine-print">Messages are not saved. They disappear when you leave.</p>
      <ol class="chat-log" ref={log} aria-label="Messages">
        {state.chat.length === 0 && <li class="empty">No messages yet.</li>}
        {state.chat.map((m) => (
          <li key={m.message_id} class={m.to_facilitators ? "private" : undefined}>
            <p class="chat-meta">
              <strong>{m.sender_id === state.me?.participant_id ? "You" : m.sender_name}</strong>
              {m.to_facilitators && <span class="badge">To the facilitators</span>}
              <time>{time(m.sent_at)}</time>
            </p>
            <p class="chat-text">{m.text}</p>
          </li>
        ))}
      </ol>
      {!roomChatOpen && (
        <p class="callout">The facilitator has turned group chat off. You can still write to the facilitators privately.</p>
      )}
      <form class="chat-form" onSubmit={(e) => void send(e)}>
        <label for="chat-input">{privately ? "Message to the facilitators" : "Message to everyone"}</label>
        <textarea
          id="chat-input"
          rows={2}
          maxLength={2000}
          value={text}
          onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey) void send(e);
          }}
        />
        <div class="chat-actions">
          {!facilitator && roomChatOpen && (
            <label class="check">
              <input
                type="checkbox"
                checked={toFacilitators}
                onChange={(e) => setToFacilitators((e.target as HTMLInputElement).checked)}
              />
              Only to the facilitators
            </label>
          )}
          <button type="submit" class="primary" disabled={sending || text.trim() === ""}>
            Send
          </button>
        </div>
      </form>
    </section>
  );
}
