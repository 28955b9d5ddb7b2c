"""The operators' live feed: Socket.IO namespace ``/operator``.

Connecting needs an operator token (``auth: {"token": ...}``); anything else is
refused before a single figure is sent. Each monitoring sample is pushed to all
connected operators as a ``monitor`` event (a MonitorSnapshot).
"""

from __future__ import annotations

import logging
from typing import Any

import socketio

from rooms import Clock
from server.monitoring.views import MonitorSnapshot
from signaling.tokens import TokenError, TokenSigner

NAMESPACE = "/operator"
_OPERATORS = "operators"

logger = logging.getLogger(__name__)


class OperatorChannel:
    def __init__(self, sio: socketio.AsyncServer, signer: TokenSigner, clock: Clock) -> None:
        self._sio = sio
        self._signer = signer
        self._clock = clock
        self._latest: MonitorSnapshot | None = None

    def register(self) -> None:
        self._sio.on("connect", self._on_connect, namespace=NAMESPACE)

    async def publish(self, snapshot: MonitorSnapshot) -> None:
        self._latest = snapshot
        await self._sio.emit(
            "monitor", snapshot.model_dump(mode="json"), room=_OPERATORS, namespace=NAMESPACE
        )

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str):
            message = "an operator token is required"
            raise socketio.exceptions.ConnectionRefusedError(
                message, {"code": "invalid_token", "message": message}
            )
        try:
            operator = self._signer.verify_operator(token, self._clock.now())
        except TokenError as error:
            # Two arguments: the client then sees {code, message} as the error's data.
            raise socketio.exceptions.ConnectionRefusedError(
                str(error), {"code": error.code, "message": str(error)}
            ) from error
        await self._sio.enter_room(sid, _OPERATORS, namespace=NAMESPACE)
        logger.info("operator connected", extra={"participant_id": operator.operator_id})
        if self._latest is not None:
            await self._sio.emit(
                "monitor", self._latest.model_dump(mode="json"), to=sid, namespace=NAMESPACE
            )
