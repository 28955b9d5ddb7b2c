"""What every HTTP response says about itself, and who may change state over HTTP.

Security headers go on in ``on_response_prepare`` rather than in a middleware: a
middleware sees a response only after its handler returns, too late for the ones
that are sent while the handler runs (static files, the Socket.IO WebSocket
upgrade), and never sees aiohttp's own error pages.

Origin rule for state-changing requests (POST, PUT, PATCH, DELETE) under ``/api/``:
a present ``Origin`` must be one of the allowed origins, or the request is refused
with 403 ``origin_not_allowed`` before anything is read or changed. A missing
``Origin`` is allowed: browsers always send it on cross-origin and on state-changing
requests, so its absence means a non-browser caller (a scheduling system, curl),
and those APIs are authorised by a bearer credential that a browser never attaches
on its own (no cookies), so a forged cross-site request has nothing to ride on.
Socket.IO's origin check is python-engineio's (``cors_allowed_origins``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from server.config import Config

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
GUARDED_PREFIX = "/api/"
# A year: the usual HSTS lifetime (and the minimum for browsers' preload lists).
HSTS_MAX_AGE_S = 365 * 24 * 3600

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def content_security_policy(config: Config) -> str:
    """No inline script or style, nothing from elsewhere; media as blobs and streams."""
    # CSP's host grammar has no IPv6 literals; 'self' covers a page's own socket anyway.
    sockets = " ".join(
        origin.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        for origin in config.origins()
        if "[" not in origin
    )
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        f"connect-src 'self' {sockets}",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    return "; ".join(directives)


def security_headers(config: Config) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": content_security_policy(config),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        # Camera, microphone and screen for this origin only; what the app never uses, off.
        "Permissions-Policy": (
            "camera=(self), microphone=(self), display-capture=(self), "
            "geolocation=(), payment=(), usb=()"
        ),
        "Cross-Origin-Opener-Policy": "same-origin",
        # frame-ancestors' predecessor, for browsers that predate CSP level 2.
        "X-Frame-Options": "DENY",
        # Without a version: the stack and its version only help an attacker pick exploits.
        "Server": "groupsession",
    }
    if config.served_over_https:
        headers["Strict-Transport-Security"] = f"max-age={HSTS_MAX_AGE_S}"
    return headers


def origin_not_allowed(origin: str) -> web.Response:
    return web.json_response(
        {
            "error": {
                "code": "origin_not_allowed",
                "message": f"requests from {origin} are not accepted here; "
                "the server's allowed origins are set by GROUPSESSION_PUBLIC_URL "
                "and GROUPSESSION_ALLOWED_ORIGINS",
            }
        },
        status=403,
    )


def add_http_security(app: web.Application, config: Config) -> None:
    headers = security_headers(config)
    allowed = frozenset(config.origins())

    async def add_headers(_: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(headers)

    @web.middleware
    async def check_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if (
            origin is not None
            and request.method in STATE_CHANGING
            and request.path.startswith(GUARDED_PREFIX)
            and origin.rstrip("/").lower() not in allowed
        ):
            return origin_not_allowed(origin)
        return await handler(request)

    app.on_response_prepare.append(add_headers)
    app.middlewares.append(check_origin)
