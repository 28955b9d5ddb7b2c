import { useEffect, useRef, useState } from "preact/hooks";
import type { Ending } from "./store";

interface Props {
  roomRef: string;
  ending: Ending | undefined;
  onEnd: (reason: string) => void;
  onClose: () => void;
}

export const REASON_MAX = 200;

/** Asks for the reason (kept in the room's audit trail), then ends the room. */
export function EndRoomDialog({ roomRef, ending, onEnd, onClose }: Props) {
  const ref = useRef<HTMLDialogElement>(null);
  const [reason, setReason] = useState("");
  useEffect(() => {
    const dialog = ref.current;
    if (dialog !== null && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);
  const sending = ending?.status === "sending";
  const trimmed = reason.trim();
  return (
    <dialog
      ref={ref}
      class="confirm op-end-dialog"
      aria-labelledby="op-end-title"
      aria-describedby="op-end-body"
      onCancel={(e) => {
        e.preventDefault();
        if (!sending) onClose();
      }}
    >
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault();
          if (trimmed !== "" && !sending) onEnd(trimmed);
        }}
      >
        <h2 id="op-end-title">
          End room <span class="op-ref">{roomRef}</span>?
        </h2>
        <p id="op-end-body">
          The session ends for everyone in it, at once. This cannot be undone. Your reason is kept in the room's
          audit trail with your operator id.
        </p>
        <label class="op-field">
          <span>Reason (required)</span>
          <textarea
            name="reason"
            rows={3}
            maxLength={REASON_MAX}
            required
            autofocus
            value={reason}
            onInput={(e) => setReason(e.currentTarget.value)}
          />
          <span class="fine-print">
            {reason.length} / {REASON_MAX} characters
          </span>
        </label>
        {ending?.status === "failed" && (
          <p class="op-error" role="alert">
            Not ended: {ending.message}
          </p>
        )}
        <div class="dialog-actions">
          <button type="button" class="secondary" onClick={onClose} disabled={sending}>
            Cancel
          </button>
          <button type="submit" class="danger" disabled={trimmed === "" || sending}>
            {sending ? "Ending…" : "End room"}
          </button>
        </div>
      </form>
    </dialog>
  );
}
