"""Prometheus metrics, in a registry of the application's own (no process globals).

Labels carry event names, error codes, roles and states: never ids or names.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.signaling_messages = Counter(
            "groupsession_signaling_messages",
            "Socket.IO messages handled, by event and error code (empty: ok)",
            ["event", "error_code"],
            registry=self.registry,
        )
