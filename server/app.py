"""The aiohttp application factory: one place where the process is wired together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from importlib.metadata import PackageNotFoundError, version

import socketio
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from rooms import Clock, Room, RoomRecordStore, RoomStore, StoreUnavailable
from rooms.events import RoomSettings
from server.admin_api import add_admin_routes
from server.app_keys import (
    CLOCK,
    CLUSTER,
    CONFIG,
    MEDIA,
    METRICS,
    MONITOR,
    OBSERVER,
    RECORDS,
    SIGNALING,
    SIGNER,
    SIO,
    STORE,
)
from server.audit_keeper import AuditKeeper
from server.cluster import NodeRegistry, node_id_for
from server.config import Config
from server.http_security import add_http_security
from server.memory_store import InMemoryRoomRecords, InMemoryRoomStore
from server.metrics import Metrics
from server.monitoring.channel import OperatorChannel
from server.monitoring.load import LoadSampler
from server.monitoring.monitor import Monitor
from server.monitoring.operator_api import add_operator_routes
from server.monitoring.pseudonyms import Pseudonyms
from server.monitoring.rating import QualitySource
from server.monitoring.views import MonitorSnapshot
from server.observer import ServerObserver
from server.readiness import Readiness, media_probe, readiness_routes
from server.redis_keys import RedisKeys
from server.redis_revocations import RedisRevokedLinks
from server.redis_store import RedisRoomRecords
from server.system_clock import SystemClock
from signaling.limits import Limits
from signaling.media import MediaPlane
from signaling.packets import MAX_FRAME_BYTES, BoundedJson, ClientPacket
from signaling.revocation import InMemoryRevokedLinks, RevokedLinks
from signaling.service import Signaling
from signaling.tokens import TokenSigner

logger = logging.getLogger(__name__)

# engine.io's heartbeat, both ways: a silent connection is dropped after at most about
# PING_INTERVAL_S + PING_TIMEOUT_S (the library's defaults would take 45 s).
PING_INTERVAL_S = 10
PING_TIMEOUT_S = 10
# How often rooms that emptied out have their audit trail written.
AUDIT_CHECK_S = 5.0

MediaFactory = Callable[[Config], MediaPlane]

# How often an idle server asks its Redis whether it is there.
STORE_WATCH_INTERVAL_S = 2.0


def package_version() -> str:
    try:
        return version("groupsession")
    except PackageNotFoundError:
        return "0+unknown"


def default_media(config: Config) -> MediaPlane:
    from server.sfu import IcePolicy, RtpForwardingMediaPlane

    # The operators' pseudonyms, so the media plane's log lines name people as
    # signaling's and the operator page do.
    policy = IcePolicy(announced_address=config.announced_address, ports=config.media_ports)
    return RtpForwardingMediaPlane(
        pseudonyms=Pseudonyms(config.signing_secret()), ice_policy=policy
    )


def room_records(config: Config) -> RoomRecordStore:
    """Redis when configured (rooms outlive the process), else this process's memory."""
    if config.redis_url is None:
        return InMemoryRoomRecords(retention_s=config.room_retention_s)
    return RedisRoomRecords(
        config.redis_url,
        retention_s=config.room_retention_s,
        keys=RedisKeys(config.redis_prefix),
        timeout_s=config.redis_timeout_ms / 1000,
        node_id=node_id_for(node_url(config)),
    )


def revoked_links(records: RoomRecordStore, clock: Clock) -> RevokedLinks:
    """Beside the rooms' records: in Redis (every node, and after a restart), or in this
    process's memory (for its life)."""
    if isinstance(records, RedisRoomRecords):
        return RedisRevokedLinks(records, clock.now)
    return InMemoryRevokedLinks(clock.now)


def node_url(config: Config) -> str:
    """This process's own address for clients (a node's identity; server.cluster)."""
    return (config.node_url or config.base_url).rstrip("/")


def node_registry(
    config: Config, store: RoomStore, on_room_lost: Callable[[str], None]
) -> NodeRegistry | None:
    """With Redis, this process is a node: registered, and placing rooms (server.cluster)."""
    if config.redis_url is None:
        return None

    def load() -> int:
        return sum(
            sum(1 for _ in room.admitted()) + sum(1 for _ in room.waiting())
            for room in store
            if not room.ended
        )

    return NodeRegistry(
        config.redis_url,
        node_url=node_url(config),
        load=load,
        retention_s=config.room_retention_s,
        keys=RedisKeys(config.redis_prefix),
        timeout_s=config.redis_timeout_ms / 1000,
        live_room_ids=lambda: [room.room_id for room in store if not room.ended],
        on_room_lost=on_room_lost,
    )


async def _node_lease(registry: NodeRegistry) -> AsyncIterator[None]:
    """Registered before the node reports ready; deregistered at a graceful stop."""
    try:
        await registry.heartbeat()
    except StoreUnavailable:
        logger.warning("node not registered yet: redis did not answer")
    task = asyncio.create_task(registry.run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    with contextlib.suppress(StoreUnavailable):
        await registry.leave()
    await registry.close()


def create_app(
    config: Config,
    *,
    clock: Clock | None = None,
    media_factory: MediaFactory | None = default_media,
) -> web.Application:
    """``media_factory=None`` runs signaling only (no media relay), for tests of the protocol."""
    app = web.Application()
    # Before anything else adds a middleware: a refused origin never reaches a handler.
    add_http_security(app, config)
    clock = clock or SystemClock()
    app[CONFIG] = config
    app[CLOCK] = clock
    app[STORE] = InMemoryRoomStore()
    records = room_records(config)
    app[RECORDS] = records
    app[SIGNER] = TokenSigner(config.signing_secret())
    # python-engineio refuses a handshake whose Origin is not listed (400); one with no
    # Origin is a non-browser client and allowed (docs/protocol.md, "Origins").
    origins = config.origins()
    # No Socket.IO logger: it would print payloads, and a join payload carries a token.
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        cors_allowed_origins=origins,
        logger=False,
        engineio_logger=False,
        # Client events can name no server handler; frames are bounded (docs/protocol.md).
        serializer=ClientPacket,
        json=BoundedJson,
        max_http_buffer_size=MAX_FRAME_BYTES,
        # A network that goes silent (no close) is noticed within about 20 s, inside the
        # grace period that keeps a dropped person's place (docs/protocol.md).
        ping_interval=PING_INTERVAL_S,
        ping_timeout=PING_TIMEOUT_S,
    )
    sio.attach(app)
    app[SIO] = sio
    media = media_factory(config) if media_factory is not None else None
    if media is not None:
        app[MEDIA] = media
    readiness = Readiness()
    if media is not None:
        readiness.require("media plane", media_probe(media))
    if isinstance(records, RedisRoomRecords):
        readiness.require("room store", records.health_problem)

    def new_room(room_id: str) -> Room:
        return Room(
            room_id,
            clock,
            settings=RoomSettings(capacity=config.room_capacity),
            reconnect_grace_s=config.reconnect_grace_s,
            waiting_room_size=config.waiting_room_size,
        )

    metrics = Metrics()
    app[METRICS] = metrics
    keeper = AuditKeeper(config.audit_dir) if config.audit_dir is not None else None
    # One set of pseudonyms: logs and the operators' view name rooms and people alike.
    pseudonyms = Pseudonyms(config.signing_secret())
    observer = ServerObserver(metrics, clock, keeper, pseudonyms)
    app[OBSERVER] = observer
    registry = node_registry(config, app[STORE], lambda room_id: signaling.room_moved(room_id))
    signaling = Signaling(
        sio,
        app[STORE],
        app[SIGNER],
        clock,
        new_room,
        media=media,
        observer=observer,
        pseudonyms=pseudonyms,
        turn=config.turn(),
        records=records,
        placement=registry,
        revoked_links=revoked_links(records, clock),
        limits=Limits(
            messages_per_s=config.rate_limit_per_s,
            message_burst=config.rate_burst,
            joins_per_minute=config.joins_per_minute,
            join_timeout_s=config.join_timeout_s,
            max_rooms=config.max_rooms,
        ),
    )
    signaling.register()
    app[SIGNALING] = signaling

    quality = media if isinstance(media, QualitySource) else None
    metrics.watch(app[STORE], quality)
    monitor = Monitor(app[STORE], clock, pseudonyms, metrics, quality, LoadSampler())
    app[MONITOR] = monitor
    operators = OperatorChannel(sio, app[SIGNER], clock)
    operators.register()
    if registry is None:
        monitor.on_snapshot(operators.publish)
    else:
        app[CLUSTER] = registry
        monitor.on_snapshot(registry.share_snapshot)

        async def publish_cluster(snapshot: MonitorSnapshot) -> None:
            await operators.publish(await registry.cluster_snapshot(snapshot))

        # Operators connected to any node see every node's rooms and alerts.
        monitor.on_snapshot(publish_cluster)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", prometheus_metrics)
    add_admin_routes(app)
    add_operator_routes(app)
    add_web_client_routes(app, config)
    app.cleanup_ctx.append(_signaling_lifetime)
    app.cleanup_ctx.append(_room_store_watch)
    if registry is not None:
        app.cleanup_ctx.append(lambda _: _node_lease(registry))
    app.cleanup_ctx.append(_room_retention)
    app.cleanup_ctx.append(_room_clock)
    app.cleanup_ctx.append(_audit_safekeeping)
    app.cleanup_ctx.append(lambda _: monitor.running())
    readiness_routes(app, readiness)  # last: ready once everything above has started
    return app


async def healthz(request: web.Request) -> web.Response:
    store = request.app[STORE]
    live = sum(1 for room in store if not room.ended)
    return web.json_response({"status": "ok", "version": package_version(), "rooms": live})


async def prometheus_metrics(request: web.Request) -> web.Response:
    """Open like most exporters: by design no label or value names a person or a room."""
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def add_web_client_routes(app: web.Application, config: Config) -> None:
    index = config.web_dir / "index.html"

    async def serve_index(request: web.Request) -> web.StreamResponse:
        if not index.exists():
            return web.Response(
                status=503,
                text="The web client is not built: run ./dev run (npm run build in web_client/)\n",
            )
        return web.FileResponse(index, headers={"Cache-Control": "no-cache"})

    app.router.add_get("/", serve_index)
    assets = config.web_dir / "assets"
    if assets.is_dir():
        app.router.add_static("/assets", assets)


async def _signaling_lifetime(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[SIGNALING].close()
    if MEDIA in app:
        await app[MEDIA].close()


async def _room_store_watch(app: web.Application) -> AsyncIterator[None]:
    """Ask Redis every few seconds while idle, so /readyz and the join path learn that
    it went away (or came back) before someone's join finds out. Closes it at the end."""
    records, persistence = app[RECORDS], app[SIGNALING].persistence

    async def watch() -> None:
        while True:
            await asyncio.sleep(STORE_WATCH_INTERVAL_S)
            if not isinstance(records, RedisRoomRecords) or persistence is None:
                continue
            if not await records.ping():
                # Commands stop waiting on it; the reconciler finds when it is back.
                persistence.store_went_down()

    task = asyncio.create_task(watch())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await records.close()


async def _room_retention(app: web.Application) -> AsyncIterator[None]:
    """Forget rooms that ended, or stood empty, longer than the retention time."""
    config, store, clock = app[CONFIG], app[STORE], app[CLOCK]
    last_seen: dict[str, float] = {}

    async def sweep() -> None:
        while True:
            await asyncio.sleep(60)
            now = clock.now()
            for room in store:
                if any(True for _ in room.admitted()) or any(True for _ in room.waiting()):
                    last_seen[room.room_id] = now
                    continue
                idle_since = last_seen.setdefault(room.room_id, now)
                if now - idle_since >= config.room_retention_s:
                    app[OBSERVER].keep_trail(room, "discarded")
                    store.discard(room.room_id)
                    if (persistence := app[SIGNALING].persistence) is not None:
                        persistence.forget(room.room_id)
                    last_seen.pop(room.room_id, None)

    task = asyncio.create_task(sweep())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _audit_safekeeping(app: web.Application) -> AsyncIterator[None]:
    """Audit trails outlive more than an explicit End (when GROUPSESSION_AUDIT_DIR is
    set): a session that empties out is written within AUDIT_CHECK_S, and whatever
    is new in any room when the server shuts down."""
    store, observer = app[STORE], app[OBSERVER]

    async def watch() -> None:
        while True:
            await asyncio.sleep(AUDIT_CHECK_S)
            for room in list(store):
                if not room.ended and not any(True for _ in (*room.admitted(), *room.waiting())):
                    observer.keep_trail(room, "emptied")

    task = asyncio.create_task(watch())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    for room in list(store):
        observer.keep_trail(room, "shutdown")


async def _room_clock(app: web.Application) -> AsyncIterator[None]:
    """Drive the rooms' timers: turn warnings and time-ups, the session clock."""
    signaling, interval = app[SIGNALING], app[CONFIG].tick_interval_s

    async def run() -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await signaling.tick()
            except Exception:
                logger.exception("room clock tick failed")

    task = asyncio.create_task(run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
