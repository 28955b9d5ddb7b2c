// One person's session: the join link, the signaling client, the room store and the
// media, wired together. Components call its methods; it never changes the room state
// itself except through acks and events.

import { ProtocolError, SignalingClient } from "./protocol/client";
import { RedirectPacing } from "./protocol/redirects";
import type { JoinLinkClaims } from "./protocol/token";
import {
  SERVER_EVENTS,
  type ClientCommands,
  type CommandName,
  type Device,
  type IceServers,
  type ServerEventName,
  type SettingsChange,
} from "./protocol/types";
import { checkCameraSends } from "./media/cameraCheck";
import { LocalMedia, type DeviceChoice, type TrackKind } from "./media/local";
import { IceServerRefresh } from "./media/iceServers";
import { PeerMedia, type LayerOutbound, type MediaHealth, type RemoteStreams } from "./media/peers";
import { TileWatcher } from "./media/tileWatcher";
import { createRoomStore, isFinal, others, type Action, type RoomState, type RoomStore } from "./state/room";
import { ViewReporter, type TileReport } from "./state/view";

/** Join refusals that say "not now" rather than "not you" (docs/protocol.md). */
const RETRY_JOIN_CODES = new Set(["service_unavailable", "server_shutting_down"]);
const JOIN_RETRY_FIRST_MS = 1000;
const JOIN_RETRY_MAX_MS = 8000;

// Media recovery (docs/protocol.md): new peer connections over the same socket, after
// 1, 2, 4, 8, 15, 15 s; then we stop and say so. A connection that connects resets it.
const MEDIA_RETRY_BASE_MS = 1000;
const MEDIA_RETRY_MAX_MS = 15_000;
const MEDIA_ATTEMPTS = 6;
// A room that refuses takeovers refuses our rejoin until it notices our old connection
// dropped; we ask again this often meanwhile.
const SEAT_RETRY_MS = 3000;

export interface JoinChoice extends DeviceChoice {
  microphone: boolean;
  camera: boolean;
}

export class Session {
  readonly store: RoomStore;
  readonly local = new LocalMedia();
  remote: RemoteStreams = new Map();
  /** Everyone else's shared screen, by participant. */
  remoteScreens: RemoteStreams = new Map();
  /** Our own shared screen while we share. */
  screen: MediaStream | null = null;
  private readonly remoteListeners = new Set<(streams: RemoteStreams) => void>();
  private client: SignalingClient | null = null;
  private peers: PeerMedia | null = null;
  private wanted = { microphone: true, camera: true };
  private joinedOnce = false;
  /** Joined over the current socket: media may start (a reconnect must rejoin first). */
  private joinedOnSocket = false;
  /** Media recovery: attempts since media last connected, and the pending retry. */
  private mediaAttempts = 0;
  private mediaRetry: ReturnType<typeof setTimeout> | null = null;
  /** Switched off here and not yet confirmed by the server: keep it off meanwhile. */
  private switchingOff = { microphone: false, camera: false };
  /** Where remote sound plays (an audiooutput device id); null: the default. */
  speakerId: string | null = null;
  private readonly localListeners = new Set<() => void>();
  /** Device switches run one at a time: each waits for the one before. */
  private switching: Promise<unknown> = Promise.resolve();
  private readonly devicesChanged = (): void => void this.replaceLostDevices();
  /** The last camera known to send, when the one in use was chosen while off (unchecked). */
  private cameraUnchecked: string | null = null;
  private watchingDevices = false;
  /** Counts device switches: our own tile starts afresh on a new camera. */
  deviceSwitches = 0;
  /** TURN servers and credentials from the server, refreshed before they expire. */
  private iceServers: RTCIceServer[] = [];
  private readonly iceRefresh = new IceServerRefresh(
    () => this.requestIceServers(),
    (servers) => {
      this.iceServers = servers;
      this.peers?.setIceServers(servers);
    },
  );
  private joinRetries = 0;
  private readonly redirects = new RedirectPacing();
  /** The node we were redirected to, or null: the address the page came from. */
  private nodeUrl: string | null = null;
  /** What we show of each remote camera, reported to the server (simulcast). */
  readonly view = new ViewReporter((tiles) => this.reportView(tiles));
  private tileWatcher: TileWatcher | null = null;

  constructor(
    readonly token: string | null,
    readonly claims: JoinLinkClaims | null,
  ) {
    this.store = createRoomStore(token !== null);
    this.store.subscribe((state) => this.follow(state));
  }

  get state(): RoomState {
    return this.store.current;
  }

  // -- joining --------------------------------------------------------------------

  join(choice: JoinChoice): void {
    if (this.token === null || this.client !== null) return;
    this.wanted = { microphone: choice.microphone, camera: choice.camera };
    this.local.setSending("audio", false); // nothing is sent before the server says so
    this.local.setSending("video", false);
    this.dispatch({ type: "join_sent" });
    this.open(null);
  }

  /** Connect to the room's node (``nodeUrl``, after a ``wrong_node`` redirect) or to the
   * address the page came from (null). The person notices nothing: their place, holds
   * and media come back with the rejoin, as after any reconnect. */
  private open(nodeUrl: string | null): void {
    const previous = this.client;
    const client = nodeUrl === null ? new SignalingClient() : new SignalingClient(nodeUrl);
    this.client = client;
    this.nodeUrl = nodeUrl;
    if (previous !== null) {
      this.joinedOnSocket = false;
      this.stopPeers();
      previous.close(); // its listeners see it is no longer the session's client
    }
    for (const name of SERVER_EVENTS) this.forward(client, name);
    client.on("subscriber_offer", (offer) => this.peers?.handleOffer(offer));
    client.on("media_failed", () => this.mediaFailed());
    client.on("publish_layers", ({ active }) => this.peers?.setPublishLayers(active));
    client.onConnection((event, { willReconnect, attempt }) => {
      if (this.client !== client) return;
      if (event === "retrying") {
        if (!isFinal(this.state.phase)) this.dispatch({ type: "connection", status: "reconnecting", attempt });
        return;
      }
      if (event === "connected") {
        this.dispatch({ type: "connection", status: "connected" });
        void this.sendJoin();
        return;
      }
      this.joinedOnSocket = false;
      this.stopPeers();
      this.cancelMediaRetry(); // the rejoin starts media afresh
      if (isFinal(this.state.phase)) return;
      this.dispatch({ type: "connection", status: willReconnect ? "reconnecting" : "offline" });
      // The room's node went away (restart, failure): go back to the entry address,
      // which sends us to wherever the room is now served.
      if (willReconnect && this.nodeUrl !== null) this.open(null);
    });
    client.connect();
    this.watchDevices();
  }

  private forward<K extends ServerEventName>(client: SignalingClient, name: K): void {
    client.on(name, (payload) => this.dispatch({ type: name, payload } as Action));
  }

  private async sendJoin(): Promise<void> {
    const client = this.client;
    if (client === null || this.token === null || isFinal(this.state.phase)) return;
    // A rejoin after a reconnect asks for what the person had on; the server keeps holds.
    const me = this.state.me;
    const microphone = me === null ? this.wanted.microphone : me.microphone.on;
    const camera = me === null ? this.wanted.camera : me.camera.on;
    try {
      const reply = await client.request("join", {
        token: this.token,
        microphone: microphone && this.local.track("audio") !== null,
        camera: camera && this.local.track("video") !== null,
      });
      this.joinedOnce = true;
      this.joinedOnSocket = true;
      this.iceRefresh.take(reply);
      this.joinRetries = 0;
      this.redirects.reset();
      this.dispatch({ type: "joined", snapshot: reply.snapshot });
    } catch (error) {
      const { code, message } = describe(error);
      if (error instanceof ProtocolError && code === "wrong_node" && error.nodeUrl !== null) {
        const nodeUrl = error.nodeUrl;
        const pause = this.redirects.next();
        if (pause === 0) {
          if (this.client === client) this.open(nodeUrl); // the room's node
          return;
        }
        // Nodes sending us back and forth while the room moves: ask again, slower.
        this.dispatch({ type: "connection", status: "reconnecting" });
        window.setTimeout(() => {
          if (this.client === client && !isFinal(this.state.phase)) this.open(nodeUrl);
        }, pause);
        return;
      }
      if (RETRY_JOIN_CODES.has(code) && this.client === client && client.connected) {
        // The server cannot take the join just now (its session store is away, or it is
        // restarting): not a refusal of this person. Try again, backing off.
        this.dispatch({ type: "connection", status: "reconnecting" });
        const delay = Math.min(JOIN_RETRY_MAX_MS, JOIN_RETRY_FIRST_MS * 2 ** this.joinRetries);
        this.joinRetries += 1;
        window.setTimeout(() => void this.sendJoin(), delay);
        return;
      }
      if (code === "seat_taken" && this.joinedOnce && client.connected) {
        // Our own old connection, not yet noticed as dropped (within about 20 s): retry.
        this.dispatch({ type: "connection", status: "reconnecting" });
        setTimeout(() => void this.sendJoin(), SEAT_RETRY_MS);
        return;
      }
      this.dispatch({ type: "join_refused", code, message });
    }
  }

  private requestIceServers(): Promise<IceServers> {
    const client = this.client;
    // Not joined: the next join's ack brings fresh ones (the retry finds them taken).
    if (client === null || !this.joinedOnSocket) return Promise.reject(new Error("not joined"));
    return client.request("refresh_ice_servers", {});
  }

  // -- what follows from the state --------------------------------------------------

  private follow(state: RoomState): void {
    const me = state.me;
    // Everyone whose camera could reach us: a tile not shown is reported hidden.
    this.view.setParticipants(others(state).map((p) => p.participant_id));
    if (me !== null) {
      // Send only what the server says is on; muting is also done locally at once (below).
      this.local.setSending("audio", me.microphone.on && !this.switchingOff.microphone);
      this.local.setSending("video", me.camera.on && !this.switchingOff.camera);
      const unchecked = this.cameraUnchecked;
      if (unchecked !== null && this.local.track("video")?.enabled === true) {
        // A camera chosen while off is on now: check it, after any switch under way.
        this.cameraUnchecked = null;
        const run = this.switching.then(() => this.verifyCamera(unchecked));
        this.switching = run.catch(() => undefined);
      }
    }
    // The room stopped our share (a facilitator, or the permission was taken back).
    if (this.screen !== null && state.screenSharerId !== me?.participant_id) this.stopLocalScreen();
    if (state.phase === "in_room" && this.joinedOnSocket && this.peers === null && this.mediaRetry === null) {
      this.startPeers(me?.role !== "observer");
    }
    if (isFinal(state.phase) || state.phase === "refused") this.shutDown();
  }

  private startPeers(publish: boolean): void {
    const client = this.client;
    if (client === null) return;
    const peers = new PeerMedia(
      client,
      (streams) => this.setRemote(streams),
      (message) => {
        console.warn(message);
        this.dispatch({ type: "notice", text: "We could not show everyone's video. Leaving and opening your link again may help." });
      },
      (screens) => {
        this.remoteScreens = screens;
        this.localChanged();
      },
      this.iceServers,
      (health: MediaHealth) => {
        if (this.peers !== peers) return;
        if (health === "connected") this.mediaAttempts = 0;
        else this.mediaFailed();
      },
      // The server knows our subscribe connection now, and nothing of our view.
      () => {
        if (this.peers === peers) this.view.start();
      },
    );
    this.peers = peers;
    peers.start(this.local.stream, publish).catch((error: unknown) => {
      console.warn("media did not start:", describe(error));
      if (this.peers === peers) {
        this.dispatch({
          type: "notice",
          text: "Your video and sound could not start. If others cannot see or hear you, leave and open your link again.",
        });
      }
    });
  }

  /** Our media failed (seen here, or told by the server): new connections, backed off. */
  private mediaFailed(): void {
    if (this.mediaRetry !== null || !this.joinedOnSocket || this.state.phase !== "in_room") return;
    this.stopPeers();
    if (this.mediaAttempts >= MEDIA_ATTEMPTS) {
      this.dispatch({
        type: "notice",
        text: "Your video and sound were lost and could not be restored. Leaving and opening your link again may help.",
      });
      return;
    }
    const delay = Math.min(MEDIA_RETRY_MAX_MS, MEDIA_RETRY_BASE_MS * 2 ** this.mediaAttempts);
    this.mediaAttempts += 1;
    this.mediaRetry = setTimeout(() => void this.restartMedia(), delay);
  }

  private async restartMedia(): Promise<void> {
    const client = this.client;
    if (client === null || !this.joinedOnSocket || this.state.phase !== "in_room") {
      this.mediaRetry = null;
      return;
    }
    try {
      await client.request("restart_media", {});
    } catch (error) {
      console.warn("media restart refused:", describe(error));
      this.mediaRetry = null;
      this.mediaFailed();
      return;
    }
    this.mediaRetry = null;
    if (this.peers === null && this.joinedOnSocket) this.startPeers(this.state.me?.role !== "observer");
  }

  private cancelMediaRetry(): void {
    if (this.mediaRetry !== null) clearTimeout(this.mediaRetry);
    this.mediaRetry = null;
    this.mediaAttempts = 0;
  }

  private stopPeers(): void {
    this.view.stop();
    const had = this.peers !== null;
    this.peers?.close();
    this.peers = null;
    if (had) this.dispatch({ type: "media_stopped" });
    // A new publish connection starts without the screen: the share ends with the old one.
    if (this.screen !== null) this.stopLocalScreen();
  }

  private shutDown(): void {
    if (this.watchingDevices) {
      navigator.mediaDevices?.removeEventListener("devicechange", this.devicesChanged);
      this.watchingDevices = false;
    }
    this.iceRefresh.stop();
    this.stopPeers();
    this.tileWatcher?.close();
    this.tileWatcher = null;
    this.cancelMediaRetry();
    this.local.close();
    const client = this.client;
    if (client !== null && client.connected) client.close();
  }

  private setRemote(streams: RemoteStreams): void {
    this.remote = streams;
    for (const listener of this.remoteListeners) listener(streams);
  }

  onRemote(listener: (streams: RemoteStreams) => void): () => void {
    this.remoteListeners.add(listener);
    return () => this.remoteListeners.delete(listener);
  }

  // -- devices in the room ------------------------------------------------------------

  /** Told when our own tracks or the speaker change (the self view, the device menu). */
  onLocal(listener: () => void): () => void {
    this.localListeners.add(listener);
    return () => this.localListeners.delete(listener);
  }

  private localChanged(): void {
    for (const listener of this.localListeners) listener();
  }

  /**
   * Use another microphone or camera (null: the browser's default) without leaving:
   * the publish connection swaps the track in place. What the server holds is
   * untouched: a microphone the facilitator muted stays silent on the new device.
   */
  switchDevice(kind: TrackKind, deviceId: string | null): Promise<boolean> {
    const run = this.switching.then(() => this.replaceTrack(kind, deviceId));
    this.switching = run.catch(() => undefined);
    return run;
  }

  private async replaceTrack(kind: TrackKind, deviceId: string | null): Promise<boolean> {
    const previous = this.local.deviceId(kind);
    let track: MediaStreamTrack;
    try {
      track = await this.local.replace(kind, deviceId);
    } catch (error) {
      console.warn("device switch failed:", describe(error));
      const what = kind === "audio" ? "microphone" : "camera";
      this.dispatch({ type: "notice", text: `We could not switch to that ${what}. Please choose another one.` });
      this.localChanged();
      return false;
    }
    track.addEventListener("ended", this.devicesChanged); // unplugged, or taken by the system
    this.follow(this.state); // send only what the server says is on
    const sending = (await this.peers?.replaceTrack(track)) ?? false;
    // A camera whose picture the encoder cannot take (a depth camera) plays in the self
    // view while everyone else sees a frozen picture: go back to the one that worked.
    // A camera switched off sends black frames the encoder always takes, which prove
    // nothing: it is checked when it is turned on, against the last camera that worked.
    if (kind === "video" && sending && previous !== null && previous !== track.getSettings().deviceId) {
      if (!track.enabled) {
        this.cameraUnchecked ??= previous;
      } else {
        this.cameraUnchecked = null;
        if (!(await this.verifyCamera(previous))) return false;
      }
    }
    this.deviceSwitches += 1;
    this.localChanged();
    return true;
  }

  /** After a camera switch: back to `previous` when the new camera's picture never reaches the encoder. */
  private async verifyCamera(previous: string): Promise<boolean> {
    const peers = this.peers;
    if (peers === null || (await checkCameraSends(() => peers.cameraSourceFrames())) !== "stalled") return true;
    await this.restoreCamera(previous);
    return false;
  }

  /** Back to the camera used before a switch whose picture could not be sent. */
  private async restoreCamera(deviceId: string): Promise<void> {
    let text = "Others could not see that camera's picture (it may be a depth or infrared camera). Your previous camera is back.";
    try {
      const track = await this.local.replace("video", deviceId);
      track.addEventListener("ended", this.devicesChanged);
      this.follow(this.state);
      await this.peers?.replaceTrack(track);
    } catch (error) {
      console.warn("could not restore the previous camera:", describe(error));
      text = "Others could not see that camera's picture, and your previous camera did not come back. Please choose another one.";
    }
    this.dispatch({ type: "notice", text });
    this.localChanged();
  }

  // -- sharing a screen ----------------------------------------------------------------

  /**
   * Share a screen: the browser asks which one, then the server decides (facilitators
   * share; members when a facilitator allows it; one share at a time). A refusal
   * stops the capture and says why. True when the share is on.
   */
  async shareScreen(): Promise<boolean> {
    const peers = this.peers;
    if (peers === null || this.screen !== null) return false;
    let capture: MediaStream;
    try {
      capture = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch {
      return false; // the person chose not to share: nothing to say
    }
    const [track] = capture.getVideoTracks();
    if (track === undefined || !(await this.command("start_screen_share", {}))) {
      for (const t of capture.getTracks()) t.stop();
      return false;
    }
    this.screen = capture;
    // The browser's own "Stop sharing" bar ends the track.
    track.addEventListener("ended", () => void this.stopScreenShare());
    this.localChanged();
    try {
      await peers.shareScreen(track);
    } catch (error) {
      console.warn("screen share did not start:", describe(error));
      this.dispatch({ type: "notice", text: "Your screen could not be shared. Please try again." });
      await this.stopScreenShare();
      return false;
    }
    return true;
  }

  async stopScreenShare(): Promise<void> {
    if (this.screen === null) return;
    this.stopLocalScreen();
    await this.command("stop_screen_share", {});
  }

  private stopLocalScreen(): void {
    const capture = this.screen;
    if (capture === null) return;
    this.screen = null;
    for (const track of capture.getTracks()) track.stop();
    void this.peers?.stopScreen().catch((error: unknown) => console.warn("screen stop:", describe(error)));
    this.localChanged();
  }

  /** Play everyone's sound on this output device (where the browser allows choosing). */
  setSpeaker(deviceId: string | null): void {
    this.speakerId = deviceId;
    this.localChanged();
  }

  private watchDevices(): void {
    const devices = navigator.mediaDevices;
    if (devices === undefined || this.watchingDevices) return;
    devices.addEventListener("devicechange", this.devicesChanged);
    for (const track of this.local.stream?.getTracks() ?? []) track.addEventListener("ended", this.devicesChanged);
    this.watchingDevices = true;
  }

  /** A device in use went away (unplugged): fall back to the default one, and say so. */
  private async replaceLostDevices(): Promise<void> {
    if (isFinal(this.state.phase)) return;
    const lists = await this.local.devices();
    const present = (list: MediaDeviceInfo[], id: string | null) => list.some((d) => d.deviceId === id);
    for (const [kind, list, what] of [
      ["audio", lists.microphones, "microphone"],
      ["video", lists.cameras, "camera"],
    ] as const) {
      const track = this.local.track(kind);
      if (track === null) continue;
      if (track.readyState !== "ended" && present(list, this.local.deviceId(kind))) continue;
      if (!(await this.switchDevice(kind, null))) continue;
      const label = this.local.track(kind)?.label || `the default ${what}`;
      this.dispatch({ type: "notice", text: `Your ${what} was disconnected. Now using ${label}.` });
    }
    if (this.speakerId !== null && !present(lists.speakers, this.speakerId)) {
      this.setSpeaker(null);
      this.dispatch({ type: "notice", text: "Your speaker was disconnected. Sound now plays on the default speaker." });
    }
  }

  inboundStats(): ReturnType<PeerMedia["inboundStats"]> {
    return this.peers?.inboundStats() ?? Promise.resolve({});
  }

  /** Our camera's simulcast layers as sent now (tests and support). */
  outboundLayers(): Promise<LayerOutbound[]> {
    return this.peers?.outboundLayers() ?? Promise.resolve([]);
  }

  // -- what we show (simulcast) ---------------------------------------------------------

  /** A remote participant's tile is on the page: the server learns whether it is seen and
   * how large, and sends their camera to fit. Returns the unwatch. */
  readonly watchTile = (participantId: string, element: Element): (() => void) => {
    this.tileWatcher ??= new TileWatcher(this.view);
    return this.tileWatcher.watch(participantId, element);
  };

  private async reportView(tiles: TileReport[]): Promise<void> {
    const client = this.client;
    if (client === null || !this.joinedOnSocket) throw new Error("not joined");
    await client.request("report_view", { tiles });
  }

  get hasJoinedOnce(): boolean {
    return this.joinedOnce;
  }

  // -- commands -----------------------------------------------------------------------

  /** Send a command; a refusal becomes a notice. Resolves true when the server agreed. */
  async command<K extends CommandName>(name: K, payload: ClientCommands[K]["payload"]): Promise<boolean> {
    const client = this.client;
    if (client === null) return false;
    try {
      await client.request(name, payload);
      return true;
    } catch (error) {
      this.dispatch({ type: "notice", text: sentence(describe(error).message) });
      return false;
    }
  }

  async setDevice(device: Device, on: boolean): Promise<void> {
    // Turning off is safe to do before the server agrees; turning on waits for it.
    if (!on) {
      this.switchingOff[device] = true;
      this.local.setSending(device === "microphone" ? "audio" : "video", false);
    }
    try {
      await this.command("set_media", { device, on });
    } finally {
      // The server emits the change before it acks: the state already says what holds.
      this.switchingOff[device] = false;
      this.follow(this.state);
    }
  }

  async acceptGroundRules(): Promise<void> {
    if (await this.command("accept_ground_rules", {})) this.dispatch({ type: "ground_rules_accepted" });
  }

  async answerUnmuteRequest(accept: boolean): Promise<void> {
    const device = this.state.unmuteRequest ?? "microphone";
    if (await this.command("answer_unmute_request", { device, accept })) {
      this.dispatch({ type: "unmute_request_answered_by_me" });
    }
  }

  async leave(): Promise<void> {
    const client = this.client;
    if (client !== null && client.connected) {
      try {
        await client.request("leave", {});
      } catch {
        // Leaving always succeeds for the person: closing the socket leaves too.
      }
    }
    this.dispatch({ type: "left_room" });
  }

  /** Fetch the audit trail and save it as a JSON file (facilitators; the server decides). */
  async downloadAudit(): Promise<boolean> {
    const client = this.client;
    if (client === null) return false;
    let reply: ClientCommands["get_audit"]["reply"];
    try {
      reply = await client.request("get_audit", {});
    } catch (error) {
      this.dispatch({ type: "notice", text: sentence(describe(error).message) });
      return false;
    }
    const body = JSON.stringify(
      { room_id: reply.room_id, saved_at: new Date().toISOString(), records: reply.records },
      null,
      2,
    );
    const url = URL.createObjectURL(new Blob([body], { type: "application/json" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = `audit-${reply.room_id}-${new Date().toISOString().slice(0, 16).replace(":", "")}.json`;
    document.body.append(link);
    link.click();
    link.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
    return true;
  }

  updateSettings(change: SettingsChange): Promise<boolean> {
    return this.command("update_settings", change);
  }

  dispatch(action: Action): void {
    this.store.dispatch(action);
  }
}

function describe(error: unknown): { code: string; message: string } {
  if (error instanceof ProtocolError) return { code: error.code, message: error.message };
  if (error instanceof Error && /timed out|timeout/i.test(error.message)) {
    return { code: "timeout", message: "the server did not answer in time" };
  }
  return { code: "internal_error", message: error instanceof Error ? error.message : String(error) };
}

function sentence(text: string): string {
  const trimmed = text.trim();
  if (trimmed === "") return trimmed;
  const capitalised = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capitalised) ? capitalised : `${capitalised}.`;
}

export { sentence };
