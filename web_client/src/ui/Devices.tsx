import { useEffect, useState } from "preact/hooks";
import type { DeviceLists, TrackKind } from "../media/local";
import type { Session } from "../session";
import { InfoDialog } from "./Dialog";
import { useLocalMediaVersion } from "./hooks";

/**
 * Choose another microphone, camera or speaker without leaving the room. A switch
 * swaps the track in place: nobody sees a leave or a join, and a microphone the
 * facilitator muted stays muted on the new device.
 */
export function DevicesDialog({ session, onClose }: { session: Session; onClose: () => void }) {
  const version = useLocalMediaVersion(session);
  const [lists, setLists] = useState<DeviceLists>({ cameras: [], microphones: [], speakers: [] });
  const [busy, setBusy] = useState<TrackKind | null>(null);
  useEffect(() => {
    let current = true;
    const refresh = () =>
      void session.local.devices().then((found) => {
        if (current) setLists(found);
      });
    refresh();
    navigator.mediaDevices?.addEventListener("devicechange", refresh);
    return () => {
      current = false;
      navigator.mediaDevices?.removeEventListener("devicechange", refresh);
    };
  }, [session, version]);

  const choose = async (kind: TrackKind, deviceId: string) => {
    setBusy(kind);
    try {
      await session.switchDevice(kind, deviceId);
    } finally {
      setBusy(null);
    }
  };
  const microphone = session.local.deviceId("audio");
  const camera = session.local.deviceId("video");
  return (
    <InfoDialog title="Your devices" onClose={onClose}>
      <div class="device-choices">
        {session.local.track("audio") !== null && (
          <label>
            Microphone
            <select
              value={microphone ?? ""}
              disabled={busy !== null}
              onChange={(e) => void choose("audio", e.currentTarget.value)}
            >
              {lists.microphones.map((d, i) => (
                <option key={d.deviceId} value={d.deviceId}>
                  {d.label || `Microphone ${i + 1}`}
                </option>
              ))}
            </select>
          </label>
        )}
        {session.local.track("video") !== null && (
          <label>
            Camera
            <select
              value={camera ?? ""}
              disabled={busy !== null}
              onChange={(e) => void choose("video", e.currentTarget.value)}
            >
              {lists.cameras.map((d, i) => (
                <option key={d.deviceId} value={d.deviceId}>
                  {d.label || `Camera ${i + 1}`}
                </option>
              ))}
            </select>
          </label>
        )}
        {lists.speakers.length > 0 && (
          <label>
            Speaker
            <select
              value={session.speakerId ?? "default"}
              onChange={(e) => {
                const id = e.currentTarget.value;
                session.setSpeaker(id === "default" ? null : id);
              }}
            >
              {lists.speakers.map((d, i) => (
                <option key={d.deviceId} value={d.deviceId}>
                  {d.label || `Speaker ${i + 1}`}
                </option>
              ))}
            </select>
          </label>
        )}
        <p class="fine-print" role="status">
          {busy !== null
            ? "Switching…"
            : "Switching does not change whether you are muted, and the group does not see you leave."}
        </p>
      </div>
    </InfoDialog>
  );
}
