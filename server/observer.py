"""What the server does with signaling's reports: count messages, keep audit trails."""

from __future__ import annotations

import logging

from rooms import Clock, Room
from server.audit_keeper import AuditKeeper
from server.metrics import Metrics
from server.monitoring.pseudonyms import Pseudonyms
from signaling.event_names import ClientEvent

_KNOWN_EVENTS = frozenset(event.value for event in ClientEvent)

logger = logging.getLogger(__name__)


class ServerObserver:
    def __init__(
        self,
        metrics: Metrics,
        clock: Clock,
        audit_keeper: AuditKeeper | None,
        pseudonyms: Pseudonyms,
    ) -> None:
        self._metrics = metrics
        self._clock = clock
        self._audit_keeper = audit_keeper
        # Logs name rooms as the operators' view does, never by their raw id.
        self._pseudonyms = pseudonyms

    def message_handled(self, event: str, error_code: str | None) -> None:
        # A client may send any event name: bound the label to the protocol's own.
        label = event if event in _KNOWN_EVENTS else "unknown"
        self._metrics.signaling_messages.labels(event=label, error_code=error_code or "").inc()

    def session_ended(self, room: Room) -> None:
        self.keep_trail(room, "ended")

    def keep_trail(self, room: Room, why: str) -> None:
        """Write the room's trail if configured and it has records not written yet."""
        keeper = self._audit_keeper
        if keeper is None or not keeper.has_news(room):
            return
        logged = {"room_id": self._pseudonyms.room(room.room_id)}
        try:
            keeper.keep(room, self._clock.now(), why)
        except OSError:
            # The session must still end for everyone (their media closed, their
            # connections dropped): a trail that cannot be written is logged, not raised.
            # Start-up checks the directory; this is it failing later (disk full, removed).
            logger.exception("audit trail not kept", extra=logged)
            return
        logger.info("audit trail kept", extra=logged)

    def join_completed(self, seconds: float) -> None:
        self._metrics.join_duration.observe(seconds)

    def delivery_problem(self, kind: str) -> None:
        self._metrics.delivery_problems.labels(kind=kind).inc()
