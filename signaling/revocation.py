"""Join links that may no longer be used, by their token's ``jti``.

A small interface so that a durable store can keep revocations across restarts and
share them between nodes (server.redis_revocations keeps them in Redis); the
in-memory one keeps them for the process's life. An entry is kept until the link
would have expired anyway, and no longer.

While the store is down the rule is the room store's (signaling.persistence): what
a live room on this node did is kept here and written back when the store answers
(``keep``: a ``remove`` or ``deny`` cannot wait for a database, and the room's own
record bars the person anyway); what comes from outside a live room (an operator's
revocation through the admin API) is refused with ``service_unavailable``
(``revoke`` raises StoreUnavailable, nothing changed). A link is checked against
what this node knows while the store cannot say.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class RevokedLinks(Protocol):
    async def revoke(self, jti: str, expires_at: float) -> None:
        """Refuse the link with this ``jti`` from now until ``expires_at`` (Unix seconds),
        on every node. Raises StoreUnavailable when the store cannot keep it now:
        nothing changed, the caller says so."""
        ...

    async def keep(self, jti: str, expires_at: float) -> bool:
        """The same, for a revocation a live room's command made (``remove``, ``deny``):
        refused on this node at once whatever the store's state. True when the store
        has it; False when it is kept here until ``write_back`` succeeds."""
        ...

    async def is_revoked(self, jti: str) -> bool:
        """Whether to refuse the link. While the store cannot say: whether this node
        knows it revoked (its own revocations, and those it has seen)."""
        ...

    async def write_back(self) -> bool:
        """Write the revocations ``keep`` could not; True when none is left unwritten.
        The room store's reconciler calls it with its own retries."""
        ...


class InMemoryRevokedLinks:
    """For the process's life: nothing to write back, nothing that can be down."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._until: dict[str, float] = {}
        self._clock = clock

    async def revoke(self, jti: str, expires_at: float) -> None:
        self.add(jti, expires_at)

    async def keep(self, jti: str, expires_at: float) -> bool:
        self.add(jti, expires_at)
        return True

    async def is_revoked(self, jti: str) -> bool:
        return self.knows(jti)

    async def write_back(self) -> bool:
        return True

    def add(self, jti: str, expires_at: float) -> None:
        if jti:
            self._until[jti] = max(expires_at, self._until.get(jti, 0.0))
        self._forget_expired()

    def knows(self, jti: str) -> bool:
        until = self._until.get(jti)
        return until is not None and until > self._clock()

    def __len__(self) -> int:
        return len(self._until)

    def _forget_expired(self) -> None:
        now = self._clock()
        for jti in [j for j, until in self._until.items() if until <= now]:
            del self._until[jti]
