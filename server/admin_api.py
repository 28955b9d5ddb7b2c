"""The admin HTTP API: a practice's scheduling system creates rooms and mints links.

Guarded by the admin API key (``Authorization: Bearer <key>``). Errors are JSON
``{"error": {"code", "message"}}`` with the same stable codes as the socket protocol.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rooms import Role, Room, StoreUnavailable
from rooms.events import RoomSettings
from rooms.schedule import Schedule
from server.app_keys import CLOCK, CONFIG, SIGNALING, SIGNER
from server.links import mint_join_link, mint_operator_link
from signaling.tokens import MAX_NAME_LENGTH, TokenError, TokenExpired, valid_room_id


class CreateRoomRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    room_id: str | None = Field(default=None, max_length=64)
    title: str = Field(default="", max_length=120)
    ground_rules: str = Field(default="", max_length=5000)
    capacity: int | None = Field(default=None, ge=2, le=50)
    auto_admit: bool = False
    self_unmute_allowed: bool = False
    chat_enabled: bool = True
    scheduled_start: float | None = None
    scheduled_end: float | None = None
    hard_end: bool = False
    late_cutoff_at: float | None = None


class MintTokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    display_name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    ttl_s: int | None = Field(default=None, ge=60)


def api_error(status: type[web.HTTPException], code: str, message: str) -> web.HTTPException:
    return status(
        text=web.json_response({"error": {"code": code, "message": message}}).text,
        content_type="application/json",
    )


def require_admin(request: web.Request) -> None:
    key = request.app[CONFIG].admin_api_key
    if key is None:
        raise api_error(
            web.HTTPServiceUnavailable,
            "admin_api_disabled",
            "the admin API is off: set GROUPSESSION_ADMIN_KEY to turn it on",
        )
    header = request.headers.get("Authorization", "")
    presented = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    if not presented or not hmac.compare_digest(presented.encode(), key.encode()):
        raise api_error(web.HTTPUnauthorized, "unauthorized", "a valid admin API key is required")


async def _body(request: web.Request, model: type[BaseModel]) -> Any:
    try:
        raw = await request.json()
    except ValueError as error:
        raise api_error(web.HTTPBadRequest, "invalid_payload", "the body is not JSON") from error
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        message = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
            for e in error.errors(include_url=False, include_input=False)[:3]
        )
        raise api_error(web.HTTPBadRequest, "invalid_payload", message) from error


async def create_room(request: web.Request) -> web.Response:
    require_admin(request)
    body: CreateRoomRequest = await _body(request, CreateRoomRequest)
    config, signaling = request.app[CONFIG], request.app[SIGNALING]
    room_id = body.room_id or "r_" + secrets.token_hex(6)
    if not valid_room_id(room_id):
        raise api_error(
            web.HTTPBadRequest, "invalid_payload", "room_id: 1 to 64 letters, digits, '-' or '_'"
        )
    if await _room(request, room_id) is not None:
        raise api_error(web.HTTPConflict, "room_exists", f"room {room_id} exists already")
    settings = RoomSettings(
        capacity=body.capacity or config.room_capacity,
        auto_admit=body.auto_admit,
        self_unmute_allowed=body.self_unmute_allowed,
        chat_enabled=body.chat_enabled,
    )
    try:
        schedule = Schedule(
            body.scheduled_start, body.scheduled_end, body.hard_end, body.late_cutoff_at
        )
    except ValueError as error:
        raise api_error(web.HTTPBadRequest, "invalid_payload", str(error)) from error
    room = Room(
        room_id,
        request.app[CLOCK],
        title=body.title,
        ground_rules=body.ground_rules.strip(),
        settings=settings,
        schedule=schedule,
        reconnect_grace_s=config.reconnect_grace_s,
        waiting_room_size=config.waiting_room_size,
    )
    try:
        await signaling.add_room(room)
    except KeyError as error:
        raise api_error(
            web.HTTPConflict, "room_exists", f"room {room_id} exists already"
        ) from error
    except StoreUnavailable as error:
        raise _store_down() from error
    return web.json_response(
        {"room_id": room_id, "title": room.title, "capacity": settings.capacity}, status=201
    )


async def mint_token(request: web.Request) -> web.Response:
    require_admin(request)
    body: MintTokenRequest = await _body(request, MintTokenRequest)
    config = request.app[CONFIG]
    room_id = request.match_info["room"]
    room = await _room(request, room_id)
    if room is None:
        raise api_error(web.HTTPNotFound, "no_such_room", f"no room {room_id}")
    if room.ended:
        raise api_error(web.HTTPConflict, "room_ended", "this session has ended")
    ttl = min(body.ttl_s or config.token_ttl_s, config.max_token_ttl_s)
    try:
        link = mint_join_link(
            request.app[SIGNER],
            config.base_url,
            room_id=room_id,
            role=body.role,
            display_name=body.display_name,
            ttl_s=ttl,
            now=request.app[CLOCK].now(),
        )
    except ValueError as error:
        raise api_error(web.HTTPBadRequest, "invalid_payload", str(error)) from error
    return web.json_response(
        {
            "url": link.url,
            "token": link.token,
            "participant_id": link.participant_id,
            "expires_at": link.expires_at,
            "jti": link.jti,
        },
        status=201,
    )


async def _room(request: web.Request, room_id: str) -> Room | None:
    """The room live on this node or kept in the room store (after a restart)."""
    try:
        return await request.app[SIGNALING].room(room_id)
    except StoreUnavailable as error:
        raise _store_down() from error


def _store_down() -> web.HTTPException:
    return api_error(
        web.HTTPServiceUnavailable,
        "service_unavailable",
        "the server cannot reach its session store just now; try again in a moment",
    )
class RevokeLinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=4096)


async def revoke_link(request: web.Request) -> web.Response:
    """Refuse a join link from now on (until it would have expired). Whoever is in a
    session with it stays until removed; their next join is refused."""
    require_admin(request)
    body: RevokeLinkRequest = await _body(request, RevokeLinkRequest)
    try:
        token = request.app[SIGNER].verify_join(body.token, request.app[CLOCK].now())
    except TokenExpired:
        return web.json_response({"revoked": False, "reason": "the link has expired already"})
    except TokenError as error:
        raise api_error(web.HTTPBadRequest, "invalid_token", str(error)) from error
    if not token.jti:
        raise api_error(web.HTTPBadRequest, "invalid_token", "this link has no id to revoke")
    try:
        # On every node, and after a restart: refused rather than half-kept while the
        # store is down (signaling.revocation).
        await request.app[SIGNALING].revoked_links.revoke(token.jti, token.expires_at)
    except StoreUnavailable as error:
        raise _store_down() from error
    return web.json_response({"revoked": True, "jti": token.jti, "until": token.expires_at})


class MintOperatorTokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl_s: int | None = Field(default=None, ge=60, le=30 * 24 * 3600)


async def mint_operator_token(request: web.Request) -> web.Response:
    require_admin(request)
    body: MintOperatorTokenRequest = await _body(request, MintOperatorTokenRequest)
    config = request.app[CONFIG]
    link = mint_operator_link(
        request.app[SIGNER],
        config.base_url,
        ttl_s=body.ttl_s or config.operator_token_ttl_s,
        now=request.app[CLOCK].now(),
    )
    return web.json_response(
        {
            "url": link.url,
            "token": link.token,
            "operator_id": link.operator_id,
            "expires_at": link.expires_at,
        },
        status=201,
    )


def add_admin_routes(app: web.Application) -> None:
    app.router.add_post("/api/rooms", create_room)
    app.router.add_post("/api/operator-tokens", mint_operator_token)
    app.router.add_post("/api/rooms/{room}/tokens", mint_token)
    app.router.add_post("/api/revocations", revoke_link)
