"""The operator HTTP API: rooms, alerts and load by pseudonymous id, and ending a
room with a stated reason. Bearer operator token. Nothing here names a person."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from server.app_keys import CLOCK, CLUSTER, MONITOR, SIGNALING, SIGNER
from server.monitoring.views import (
    AlertList,
    ApiError,
    EndRoomResult,
    MonitorSnapshot,
    RoomDetail,
    RoomHealth,
    RoomList,
    ServerHealth,
)
from signaling.tokens import OperatorToken, TokenError


class EndRoomBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=200)


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _operator(request: web.Request) -> OperatorToken | web.Response:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return _error(401, "unauthorized", "an operator token is required")
    try:
        return request.app[SIGNER].verify_operator(
            header.removeprefix("Bearer ").strip(), request.app[CLOCK].now()
        )
    except TokenError as error:
        return _error(401, error.code, str(error))


def _json(model: BaseModel) -> web.Response:
    return web.json_response(model.model_dump(mode="json"))


async def _snapshot(request: web.Request) -> MonitorSnapshot:
    """This node's latest snapshot; with several nodes, every node's rooms and alerts."""
    local = request.app[MONITOR].latest
    if CLUSTER not in request.app:
        return local
    return await request.app[CLUSTER].cluster_snapshot(local)


async def list_rooms(request: web.Request) -> web.Response:
    operator = _operator(request)
    if isinstance(operator, web.Response):
        return operator
    rooms = [
        RoomHealth(**detail.model_dump(exclude={"people", "history"}))
        for detail in (await _snapshot(request)).rooms
    ]
    return _json(RoomList(rooms=rooms))


async def room_detail(request: web.Request) -> web.Response:
    operator = _operator(request)
    if isinstance(operator, web.Response):
        return operator
    room_ref = request.match_info["room_ref"]
    for detail in (await _snapshot(request)).rooms:
        if detail.room_ref == room_ref:
            return _json(detail)
    return _error(404, "no_such_room", "no live room has that id")


async def list_alerts(request: web.Request) -> web.Response:
    operator = _operator(request)
    if isinstance(operator, web.Response):
        return operator
    return _json(AlertList(alerts=(await _snapshot(request)).alerts))


async def server_health(request: web.Request) -> web.Response:
    operator = _operator(request)
    if isinstance(operator, web.Response):
        return operator
    return _json(request.app[MONITOR].latest.server)


async def end_room(request: web.Request) -> web.Response:
    operator = _operator(request)
    if isinstance(operator, web.Response):
        return operator
    try:
        body = EndRoomBody.model_validate(await request.json())
    except (ValueError, ValidationError):
        return _error(400, "invalid_payload", 'send {"reason": "..."} (1 to 200 characters)')
    room_ref = request.match_info["room_ref"]
    room = request.app[MONITOR].room_by_ref(room_ref)
    if room is None and CLUSTER in request.app:
        node_url = await request.app[CLUSTER].node_of_room_ref(room_ref)
        if node_url is not None:
            # The room's node must end it (its media and participants are there).
            return web.json_response(
                {
                    "error": {
                        "code": "wrong_node",
                        "message": "this room is served by another node: ask it there",
                        "node_url": node_url,
                    }
                },
                status=409,
            )
    if room is None or room.ended:
        return _error(404, "no_such_room", "no live room has that id")
    await request.app[SIGNALING].end_room_by_operator(room, operator.operator_id, body.reason)
    return _json(EndRoomResult(room_ref=room_ref, ended=True))


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


def add_operator_routes(app: web.Application) -> None:
    app.router.add_get("/api/rooms", list_rooms)
    app.router.add_get("/api/rooms/{room_ref}", room_detail)
    app.router.add_post("/api/rooms/{room_ref}/end", end_room)
    app.router.add_get("/api/alerts", list_alerts)
    app.router.add_get("/api/server", server_health)
    app.router.add_get("/api/openapi.json", openapi)


def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.1 for the operator API, its schemas generated from the response models."""
    models: list[type[BaseModel]] = [
        RoomList,
        RoomDetail,
        AlertList,
        ServerHealth,
        EndRoomBody,
        EndRoomResult,
        ApiError,
    ]
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema

    def ok(model: type[BaseModel], summary: str) -> dict[str, Any]:
        return {
            "summary": summary,
            "security": [{"operatorToken": []}],
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {"application/json": {"schema": _ref(model)}},
                },
                "401": {
                    "description": "No valid operator token",
                    "content": {"application/json": {"schema": _ref(ApiError)}},
                },
            },
        }

    room_ref = {"name": "room_ref", "in": "path", "required": True, "schema": {"type": "string"}}
    end = ok(EndRoomResult, "End a live session, giving a reason (kept in its audit trail)")
    end["parameters"] = [room_ref]
    end["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": _ref(EndRoomBody)}},
    }
    end["responses"]["404"] = {"description": "No live room with that id"}
    end["responses"]["409"] = {
        "description": "Served by another node (several nodes): send it to error.node_url"
    }
    detail = ok(RoomDetail, "One live room: participants' connection quality and recent history")
    detail["parameters"] = [room_ref]
    detail["responses"]["404"] = {"description": "No live room with that id"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "groupsession operator API",
            "version": "1",
            "description": "Live rooms, connection quality, load and alerts by pseudonymous "
            "id. No names, no media. Figures are sampled about once a second.",
        },
        "paths": {
            "/api/rooms": {"get": ok(RoomList, "Live rooms")},
            "/api/rooms/{room_ref}": {"get": detail},
            "/api/rooms/{room_ref}/end": {"post": end},
            "/api/alerts": {"get": ok(AlertList, "Active alerts")},
            "/api/server": {"get": ok(ServerHealth, "The server's load")},
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "operatorToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}
