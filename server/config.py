"""Configuration: CLI flags over environment variables over defaults (README table)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from signaling.tokens import MIN_SECRET_LENGTH

REPO_WEB_DIST = Path(__file__).resolve().parent.parent / "web_client" / "dist"
DEFAULT_STATE_DIR = Path.home() / ".local" / "state" / "groupsession"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class ConfigError(Exception):
    """The configuration cannot run a server; the message says what to set."""


@dataclass(frozen=True, slots=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    environment: Environment = Environment.DEVELOPMENT
    secret: str | None = None
    state_dir: Path = DEFAULT_STATE_DIR
    admin_api_key: str | None = None
    log_format: str = "text"
    log_level: str = "INFO"
    room_capacity: int = 16
    token_ttl_s: int = 4 * 3600
    max_token_ttl_s: int = 24 * 3600
    web_dir: Path = REPO_WEB_DIST
    # Keep an ended or empty room (no media, no names: ids and settings) this long, so
    # an old link cannot restart an ended session and a dropped facilitator can return.
    room_retention_s: int = 24 * 3600
    operator_token_ttl_s: int = 12 * 3600
    audit_dir: Path | None = None  # None: audit trails are discarded with their rooms
    tick_interval_s: float = 0.5

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Config:
        env = dict(os.environ) if env is None else env
        defaults = cls()

        def get(name: str) -> str | None:
            value = env.get(f"GROUPSESSION_{name}")
            return value if value else None

        try:
            return cls(
                host=get("HOST") or defaults.host,
                port=int(get("PORT") or defaults.port),
                public_url=get("PUBLIC_URL"),
                environment=Environment(get("ENV") or defaults.environment),
                secret=get("SECRET"),
                state_dir=Path(get("STATE_DIR") or defaults.state_dir),
                admin_api_key=get("ADMIN_KEY"),
                log_format=get("LOG_FORMAT") or defaults.log_format,
                log_level=(get("LOG_LEVEL") or defaults.log_level).upper(),
                room_capacity=int(get("ROOM_CAPACITY") or defaults.room_capacity),
                token_ttl_s=int(get("TOKEN_TTL") or defaults.token_ttl_s),
                web_dir=Path(get("WEB_DIR") or defaults.web_dir),
                audit_dir=Path(audit) if (audit := get("AUDIT_DIR")) else None,
            )
        except ValueError as error:
            raise ConfigError(f"invalid GROUPSESSION_* setting: {error}") from error

    def signing_secret(self) -> str:
        """The secret that signs join links. Development shares one through the state
        directory so `serve` and `token` agree with no set-up; production requires one."""
        if self.secret is not None:
            if len(self.secret) < MIN_SECRET_LENGTH:
                raise ConfigError(
                    f"GROUPSESSION_SECRET must be at least {MIN_SECRET_LENGTH} characters"
                )
            return self.secret
        if self.environment is Environment.PRODUCTION:
            raise ConfigError("GROUPSESSION_SECRET is required when GROUPSESSION_ENV=production")
        return _development_secret(self.state_dir)


def _development_secret(state_dir: Path) -> str:
    path = state_dir / "dev-secret"
    if path.exists():
        return path.read_text().strip()
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    candidate = secrets.token_urlsafe(48)
    # O_EXCL: if `serve` and `token` race on first use, both end up with the winner's.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(candidate)
    return candidate
