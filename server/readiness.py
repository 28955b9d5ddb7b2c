"""Whether this process should be sent new sessions: ``GET /readyz``.

``/healthz`` answers "is the process alive"; ``/readyz`` answers "may new people
be sent here". Not ready while starting, while draining (shutting down: sessions
in progress continue, new Socket.IO connections are refused with 503 ``draining``),
or while a required dependency reports a problem.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from enum import StrEnum
from typing import Protocol, runtime_checkable

from aiohttp import web

SOCKET_IO_PREFIX = "/socket.io/"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Phase(StrEnum):
    STARTING = "starting"
    READY = "ready"
    DRAINING = "draining"


@runtime_checkable
class ReportsHealth(Protocol):
    """A dependency that can say it is down (e.g. a media plane that lost its sockets)."""

    def health_problem(self) -> str | None:
        """None when working; otherwise what is wrong, in a sentence without names."""
        ...


Probe = Callable[[], str | None]


class Readiness:
    """Moves forward only: starting, ready, draining."""

    def __init__(self) -> None:
        self._phase = Phase.STARTING
        self._dependencies: dict[str, Probe] = {}

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def draining(self) -> bool:
        return self._phase is Phase.DRAINING

    def require(self, name: str, probe: Probe) -> None:
        self._dependencies[name] = probe

    def started(self) -> None:
        if self._phase is Phase.STARTING:
            self._phase = Phase.READY

    def drain(self) -> None:
        self._phase = Phase.DRAINING

    def problem(self) -> tuple[str, str] | None:
        """(reason, message) why not ready, or None when ready."""
        if self._phase is Phase.STARTING:
            return "starting", "the server is starting"
        if self._phase is Phase.DRAINING:
            return "draining", "the server is shutting down: it takes no new sessions"
        for name, probe in self._dependencies.items():
            if (why := probe()) is not None:
                return "dependency_down", f"{name}: {why}"
        return None


def media_probe(media: object) -> Probe:
    """The media plane runs in this process: it is up unless it reports otherwise."""
    if isinstance(media, ReportsHealth):
        return media.health_problem
    return lambda: None


def readiness_routes(app: web.Application, readiness: Readiness) -> None:
    app[READINESS] = readiness

    async def readyz(_: web.Request) -> web.Response:
        if (problem := readiness.problem()) is None:
            return web.json_response({"ready": True, "status": readiness.phase.value})
        reason, message = problem
        return web.json_response(
            {"ready": False, "status": readiness.phase.value, "reason": reason, "message": message},
            status=503,
        )

    @web.middleware
    async def refuse_new_sockets_while_draining(
        request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        # A new Engine.IO session has no sid yet; those with one are sessions in progress.
        if (
            readiness.draining
            and request.path.startswith(SOCKET_IO_PREFIX)
            and "sid" not in request.query
        ):
            return web.json_response(
                {
                    "error": {
                        "code": "draining",
                        "message": "this server is shutting down and takes no new sessions; "
                        "try again in a moment",
                    }
                },
                status=503,
            )
        return await handler(request)

    async def lifetime(_: web.Application) -> AsyncIterator[None]:
        readiness.started()
        yield

    async def on_shutdown(_: web.Application) -> None:
        readiness.drain()

    app.router.add_get("/readyz", readyz)
    app.middlewares.append(refuse_new_sockets_while_draining)
    app.on_shutdown.append(on_shutdown)
    # Appended last by the factory: every earlier start-up step has finished by then.
    app.cleanup_ctx.append(lifetime)


READINESS = web.AppKey("readiness", Readiness)
