"""Typed application state (aiohttp AppKeys): what the factory wires together."""

from __future__ import annotations

import socketio
from aiohttp import web

from rooms import Clock, RoomRecordStore, RoomStore
from server.cluster import NodeRegistry
from server.config import Config
from server.metrics import Metrics
from server.monitoring.monitor import Monitor
from server.observer import ServerObserver
from signaling.media import MediaPlane
from signaling.service import Signaling
from signaling.tokens import TokenSigner

CONFIG = web.AppKey("config", Config)
CLOCK = web.AppKey("clock", Clock)
STORE = web.AppKey("store", RoomStore)
RECORDS = web.AppKey("records", RoomRecordStore)
# Set only when this process is one node of several (Redis configured).
CLUSTER = web.AppKey("cluster", NodeRegistry)
SIGNER = web.AppKey("signer", TokenSigner)
SIO = web.AppKey("sio", socketio.AsyncServer)
SIGNALING = web.AppKey("signaling", Signaling)
MEDIA = web.AppKey("media", MediaPlane)
METRICS = web.AppKey("metrics", Metrics)
MONITOR = web.AppKey("monitor", Monitor)
OBSERVER = web.AppKey("observer", ServerObserver)
