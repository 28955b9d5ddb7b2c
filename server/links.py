"""Join links: the web client's address with a signed token in the URL fragment.

The fragment never leaves the browser (no Referer, no server access log), so the
token, which carries the display name, stays out of every log on the way.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from rooms import Role
from signaling.tokens import (
    JoinToken,
    OperatorToken,
    TokenSigner,
    clean_display_name,
    new_participant_id,
)


@dataclass(frozen=True, slots=True)
class JoinLink:
    url: str
    token: str
    participant_id: str
    expires_at: int
    jti: str = ""  # what revokes it


def mint_join_link(
    signer: TokenSigner,
    base_url: str,
    *,
    room_id: str,
    role: Role,
    display_name: str,
    ttl_s: int,
    now: float,
) -> JoinLink:
    token = JoinToken(
        room_id=room_id,
        participant_id=new_participant_id(),
        display_name=clean_display_name(display_name),
        role=role,
        expires_at=int(now) + ttl_s,
    )
    raw = signer.mint_join(token, now)
    return JoinLink(
        url=f"{base_url.rstrip('/')}/#token={raw}",
        token=raw,
        participant_id=token.participant_id,
        expires_at=token.expires_at,
        jti=token.jti,
    )


@dataclass(frozen=True, slots=True)
class OperatorLink:
    url: str
    token: str
    operator_id: str
    expires_at: int


def mint_operator_link(
    signer: TokenSigner, base_url: str, *, ttl_s: int, now: float
) -> OperatorLink:
    """A link to the operator page. Operators get an id of their own (for the audit
    trail when they end a session), never a participant id."""
    token = OperatorToken(operator_id="op_" + secrets.token_hex(6), expires_at=int(now) + ttl_s)
    raw = signer.mint_operator(token, now)
    return OperatorLink(
        url=f"{base_url.rstrip('/')}/#operator={raw}",
        token=raw,
        operator_id=token.operator_id,
        expires_at=token.expires_at,
    )
