"""Join links that may no longer be used, by their token's ``jti``.

A small interface so that a durable store can keep revocations across restarts (the
Redis store implements it); the in-memory one keeps them for the process's life. An
entry is kept until the link would have expired anyway, and no longer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol


class RevokedLinks(Protocol):
    def revoke(self, jti: str, expires_at: float) -> None:
        """Refuse the link with this ``jti`` from now until ``expires_at`` (Unix seconds)."""
        ...

    def is_revoked(self, jti: str) -> bool: ...


class InMemoryRevokedLinks:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._until: dict[str, float] = {}
        self._clock = clock

    def revoke(self, jti: str, expires_at: float) -> None:
        if jti:
            self._until[jti] = max(expires_at, self._until.get(jti, 0.0))
        self._forget_expired()

    def is_revoked(self, jti: str) -> bool:
        until = self._until.get(jti)
        return until is not None and until > self._clock()

    def __len__(self) -> int:
        return len(self._until)

    def _forget_expired(self) -> None:
        now = self._clock()
        for jti in [j for j, until in self._until.items() if until <= now]:
            del self._until[jti]
