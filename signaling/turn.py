"""TURN credentials by coturn's REST scheme ("TURN REST API", coturn's ``use-auth-secret``).

The server and coturn share one secret; nothing else is shared and coturn keeps
no user database. Each credential is:

* username ``"<expiry>:<id>"``: expiry in Unix seconds, after which coturn refuses
  the credential for a new allocation; ``id`` is random per credential, so neither
  coturn's logs nor a captured credential name a person or a room.
* password ``base64(HMAC-SHA1(secret, username))``, which coturn recomputes.

Clients get them in ``join``'s acknowledgement and fetch fresh ones with
``refresh_ice_servers`` before they expire (docs/protocol.md, "ICE servers").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any, Final

# turn:host[:port][?transport=udp|tcp] and turns:… (RFC 7065); host a name, IPv4 or [IPv6].
TURN_URI: Final = re.compile(
    r"^turns?:(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{1,5}))?"
    r"(?:\?transport=(?:udp|tcp))?$"
)
MIN_CREDENTIAL_TTL_S: Final = 60
MAX_CREDENTIAL_TTL_S: Final = 7 * 24 * 3600
_ID_BYTES: Final = 8


def turn_uri_problem(uri: str) -> str | None:
    """Why ``uri`` is not a TURN URI a browser takes, or None."""
    match = TURN_URI.match(uri)
    if match is None:
        return "is not turn:host[:port][?transport=udp|tcp] or turns:..."
    if match["port"] is not None and not 1 <= int(match["port"]) <= 65535:
        return "has a port out of range"
    return None


@dataclass(frozen=True, slots=True)
class TurnSettings:
    secret: str
    uris: tuple[str, ...]
    ttl_s: int

    def credential(self, now: float, pseudonym: str | None = None) -> tuple[str, str]:
        """(username, password) valid until ``now + ttl_s``."""
        ident = pseudonym if pseudonym is not None else secrets.token_hex(_ID_BYTES)
        username = f"{int(now) + self.ttl_s}:{ident}"
        digest = hmac.new(self.secret.encode(), username.encode(), hashlib.sha1).digest()
        return username, base64.b64encode(digest).decode("ascii")

    def ice_servers(self, now: float) -> dict[str, Any]:
        """The ``ice_servers`` and ``ice_servers_refresh_s`` fields of a reply."""
        username, password = self.credential(now)
        return {
            "ice_servers": [
                {"urls": list(self.uris), "username": username, "credential": password}
            ],
            # Half the lifetime: a client that is late by minutes still has valid ones.
            "ice_servers_refresh_s": self.ttl_s // 2,
        }


def no_ice_servers() -> dict[str, Any]:
    """The same fields with no TURN configured: the browser uses its host candidates."""
    return {"ice_servers": [], "ice_servers_refresh_s": None}
