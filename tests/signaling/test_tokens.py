from __future__ import annotations

import jwt
import pytest

from rooms import Role
from signaling.tokens import (
    JoinToken,
    OperatorToken,
    TokenError,
    TokenExpired,
    TokenSigner,
    clean_display_name,
)

SECRET = "s" * 40
NOW = 1_800_000_000.0


def token(**changes: object) -> JoinToken:
    fields: dict[str, object] = {
        "room_id": "r1",
        "participant_id": "p_1",
        "display_name": "Ana",
        "role": Role.MEMBER,
        "expires_at": int(NOW) + 60,
    }
    fields.update(changes)
    return JoinToken(**fields)  # type: ignore[arg-type]


def test_round_trip() -> None:
    signer = TokenSigner(SECRET)
    minted = token()
    assert minted.jti  # every link has its own id, for revocation
    assert signer.verify_join(signer.mint_join(minted, NOW), NOW) == minted


def test_wrong_signature() -> None:
    raw = TokenSigner("t" * 40).mint_join(token(), NOW)
    with pytest.raises(TokenError) as caught:
        TokenSigner(SECRET).verify_join(raw, NOW)
    assert caught.value.code == "invalid_token"


def test_expired_by_the_injected_clock() -> None:
    signer = TokenSigner(SECRET)
    raw = signer.mint_join(token(), NOW)
    with pytest.raises(TokenExpired):
        signer.verify_join(raw, NOW + 61)


def test_an_operator_token_is_not_a_join_token() -> None:
    signer = TokenSigner(SECRET)
    raw = signer.mint_operator(OperatorToken("op_1", int(NOW) + 60), NOW)
    with pytest.raises(TokenError):
        signer.verify_join(raw, NOW)
    assert signer.verify_operator(raw, NOW).operator_id == "op_1"


def test_unsigned_and_garbage_tokens() -> None:
    signer = TokenSigner(SECRET)
    unsigned = jwt.encode({"room": "r1"}, key=None, algorithm="none")
    for raw in (unsigned, "garbage", ""):
        with pytest.raises(TokenError):
            signer.verify_join(raw, NOW)


def test_a_token_with_an_unknown_role() -> None:
    claims = {
        "iss": "groupsession",
        "aud": "groupsession:join",
        "sub": "p_1",
        "room": "r1",
        "name": "Ana",
        "role": "admin",
        "exp": int(NOW) + 60,
    }
    with pytest.raises(TokenError):
        TokenSigner(SECRET).verify_join(jwt.encode(claims, SECRET, algorithm="HS256"), NOW)


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ValueError):
        TokenSigner("short")


@pytest.mark.parametrize("bad", ["", "   ", "x" * 65, "tab\there\x00"])
def test_display_names(bad: str) -> None:
    with pytest.raises(ValueError):
        clean_display_name(bad)
    assert clean_display_name("  Ana   María ") == "Ana María"
