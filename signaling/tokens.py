"""Signed join tokens (JWT, HS256).

A join link carries one. It names the room, a pseudonymous participant id, the
display name and the role, and it expires. Display names come only from here,
never from the client. The token itself is a credential: never log it.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import jwt

from rooms import Role

ISSUER = "groupsession"
JOIN_AUDIENCE = "groupsession:join"
OPERATOR_AUDIENCE = "groupsession:operator"
MAX_NAME_LENGTH = 64
MAX_ROOM_ID_LENGTH = 64
MIN_SECRET_LENGTH = 32


_EXPIRED = {
    JOIN_AUDIENCE: "this link has expired; ask your facilitator for a new one",
    OPERATOR_AUDIENCE: "this operator link has expired; make a new one with "
    "`groupsession operator-token`",
}


class TokenError(Exception):
    code = "invalid_token"


class TokenExpired(TokenError):
    code = "token_expired"


class TokenWrongRoom(TokenError):
    code = "token_wrong_room"


class TokenRevoked(TokenError):
    code = "token_revoked"


def new_link_id() -> str:
    """A join token's ``jti``: what revocation names."""
    return secrets.token_hex(12)


def new_participant_id() -> str:
    """Pseudonymous and unguessable: operators and logs see only this."""
    return "p_" + secrets.token_hex(8)


def valid_room_id(room_id: str) -> bool:
    return (
        0 < len(room_id) <= MAX_ROOM_ID_LENGTH
        and room_id.isascii()
        and all(c.isalnum() or c in "-_" for c in room_id)
    )


def clean_display_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > MAX_NAME_LENGTH:
        raise ValueError(f"a display name is 1 to {MAX_NAME_LENGTH} characters")
    if any(unicodedata.category(c).startswith("C") for c in cleaned):
        raise ValueError("a display name cannot contain control characters")
    return cleaned


@dataclass(frozen=True, slots=True)
class JoinToken:
    room_id: str
    participant_id: str
    display_name: str
    role: Role
    expires_at: int
    # The link's own id, for revocation ("" for a token minted before links had one).
    jti: str = field(default_factory=new_link_id)

    def __post_init__(self) -> None:
        if not valid_room_id(self.room_id):
            raise ValueError("a room id is 1 to 64 letters, digits, '-' or '_'")
        if not self.participant_id.startswith("p_"):
            raise ValueError("a participant id starts with 'p_'")
        clean_display_name(self.display_name)


@dataclass(frozen=True, slots=True)
class OperatorToken:
    operator_id: str
    expires_at: int


class TokenSigner:
    """Mints and verifies tokens with one shared secret; time comes from the caller."""

    def __init__(self, secret: str) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"the signing secret needs at least {MIN_SECRET_LENGTH} characters")
        self._secret = secret

    def mint_join(self, token: JoinToken, now: float) -> str:
        claims = {
            "iss": ISSUER,
            "aud": JOIN_AUDIENCE,
            "sub": token.participant_id,
            "room": token.room_id,
            "name": token.display_name,
            "role": token.role.value,
            "iat": int(now),
            "exp": token.expires_at,
            "jti": token.jti,
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def mint_operator(self, token: OperatorToken, now: float) -> str:
        claims = {
            "iss": ISSUER,
            "aud": OPERATOR_AUDIENCE,
            "sub": token.operator_id,
            "iat": int(now),
            "exp": token.expires_at,
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def verify_join(self, raw: str, now: float) -> JoinToken:
        claims = self._decode(raw, JOIN_AUDIENCE, now)
        try:
            return JoinToken(
                room_id=str(claims["room"]),
                participant_id=str(claims["sub"]),
                display_name=clean_display_name(str(claims["name"])),
                role=Role(claims["role"]),
                expires_at=int(claims["exp"]),
                jti=str(claims.get("jti", "")),
            )
        except (KeyError, ValueError, TypeError) as error:
            raise TokenError("the join token does not carry a valid room, name and role") from error

    def verify_operator(self, raw: str, now: float) -> OperatorToken:
        claims = self._decode(raw, OPERATOR_AUDIENCE, now)
        return OperatorToken(operator_id=str(claims["sub"]), expires_at=int(claims["exp"]))

    def _decode(self, raw: str, audience: str, now: float) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                raw,
                self._secret,
                algorithms=["HS256"],
                audience=audience,
                issuer=ISSUER,
                # Time is checked below against the injected clock, not the system's.
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["exp", "sub", "iss", "aud"],
                },
            )
        except jwt.InvalidTokenError as error:
            raise TokenError("the token is not valid for this server") from error
        if not isinstance(claims.get("exp"), int):
            raise TokenError("the token has no valid expiry")
        if claims["exp"] <= now:
            raise TokenExpired(_EXPIRED[audience])
        return claims
