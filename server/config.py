"""Configuration: CLI flags over environment variables over defaults (README table)."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import ssl
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from signaling.tokens import MIN_SECRET_LENGTH
from signaling.turn import (
    MAX_CREDENTIAL_TTL_S,
    MIN_CREDENTIAL_TTL_S,
    TurnSettings,
    turn_uri_problem,
)

REPO_WEB_DIST = Path(__file__).resolve().parent.parent / "web_client" / "dist"
DEFAULT_STATE_DIR = Path.home() / ".local" / "state" / "groupsession"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")
MAX_PORT = 65535
# The admin API's bounds for a room's capacity (server/admin_api.py): one rule for both.
MIN_ROOM_CAPACITY, MAX_ROOM_CAPACITY = 2, 50
MIN_TOKEN_TTL_S = 60
# Two peer connections per participant, each one UDP socket per address family.
MIN_MEDIA_PORTS = 16
# Values that appear in documentation and examples: never a production secret.
KNOWN_DEFAULT_SECRETS = frozenset(
    {
        "change-me",
        "changeme",
        "secret",
        "replace-with-output-of-openssl-rand-base64-48",
        "replace-with-another-output-of-openssl-rand-base64-48",
        "replace-with-a-third-output-of-openssl-rand-base64-48",
    }
)
# A secret of 32 characters drawn from fewer than this many distinct ones ("x" * 40,
# "abababab…") is typed, not generated.
MIN_DISTINCT_SECRET_CHARACTERS = 10
MAX_RECONNECT_GRACE_S = 3600
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_REDIS_PREFIX = re.compile(r"[A-Za-z0-9_-]{1,32}")


class ConfigError(Exception):
    """The configuration cannot run a server; each problem says what to set."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a configuration; a warning lets the server start."""

    message: str
    fatal: bool = True


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
    # Someone whose connection drops keeps their place this long (docs/protocol.md).
    reconnect_grace_s: int = 30
    # Abuse limits (docs/protocol.md, "Limits"); 0 turns one off.
    rate_limit_per_s: int = 20
    rate_burst: int = 60
    joins_per_minute: int = 30
    join_timeout_s: int = 10
    max_rooms: int = 200
    waiting_room_size: int = 50
    token_ttl_s: int = 4 * 3600
    max_token_ttl_s: int = 24 * 3600
    web_dir: Path = REPO_WEB_DIST
    # Keep an ended or empty room (no media, no names: ids and settings) this long, so
    # an old link cannot restart an ended session and a dropped facilitator can return.
    room_retention_s: int = 24 * 3600
    operator_token_ttl_s: int = 12 * 3600
    audit_dir: Path | None = None  # None: audit trails are discarded with their rooms
    tick_interval_s: float = 0.5
    # Origins (scheme://host[:port]) allowed besides the public URL's own, e.g. the
    # Vite dev server's while developing the web client.
    allowed_origins: tuple[str, ...] = ()
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Told that a reverse proxy in front terminates TLS: the server itself speaks http.
    behind_tls_proxy: bool = False
    # On SIGTERM, keep serving the sessions in progress (taking no new ones) this long.
    drain_timeout_s: int = 0
    # TURN by coturn's REST scheme (signaling/turn.py): secret and URIs go together.
    turn_secret: str | None = None
    turn_uris: tuple[str, ...] = ()
    turn_credential_ttl_s: int = 3600
    # The address browsers reach the media plane at when it differs from the
    # machine's own (1:1 NAT): advertised in the server's ICE candidates.
    announced_address: str | None = None
    # UDP ports the media plane binds (inclusive), so a firewall can be opened for them.
    media_ports: tuple[int, int] | None = None
    # Where rooms' records live so they outlive this process (docs/deployment.md,
    # "Redis"); None: in this process's memory, and a restart ends every session.
    redis_url: str | None = None
    # Prefix of every Redis key (server/redis_keys.py): deployments sharing one Redis.
    redis_prefix: str = "gs"
    # Every Redis call answers within this, or counts as Redis being down.
    redis_timeout_ms: int = 1000
    # With Redis: this process's own address for clients, where joins for its rooms
    # are redirected (docs/deployment.md, "Several processes"); None: the public URL.
    node_url: str | None = None
    # Settings that could not even be parsed; reported with every other problem.
    env_problems: tuple[str, ...] = field(default=(), compare=False)

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None or self.tls_key is not None

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (self.public_url or f"{scheme}://{host}:{self.port}").rstrip("/")

    @property
    def served_over_https(self) -> bool:
        """Whether browsers reach this server by https (here or through a proxy): HSTS."""
        return self.base_url.startswith("https://")

    def turn(self) -> TurnSettings | None:
        if self.turn_secret is None or not self.turn_uris:
            return None
        return TurnSettings(self.turn_secret, self.turn_uris, self.turn_credential_ttl_s)

    def origins(self) -> list[str]:
        """Origins whose pages may call the server: the public URL's, and those configured.

        With no public URL on a loopback address, both loopback spellings are the
        server's own (a developer opens localhost or 127.0.0.1 alike)."""
        own = [origin_of(self.base_url)]
        if self.public_url is None and self.host in _LOOPBACK_HOSTS:
            scheme = "https" if self.tls else "http"
            own += [f"{scheme}://{name}:{self.port}" for name in ("127.0.0.1", "localhost")]
        extra = [origin.rstrip("/").lower() for origin in self.allowed_origins]
        return list(dict.fromkeys(own + extra))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Config:
        env = dict(os.environ) if env is None else env
        defaults = cls()

        def get(name: str) -> str | None:
            value = env.get(f"GROUPSESSION_{name}")
            return value if value else None

        problems: list[str] = []

        def number(name: str, default: int) -> int:
            raw = get(name)
            if raw is None:
                return default
            try:
                return int(raw)
            except ValueError:
                problems.append(f"GROUPSESSION_{name} must be a whole number, not {raw!r}")
                return default

        def flag(name: str) -> bool:
            raw = (get(name) or "false").lower()
            if raw not in ("true", "false", "1", "0", "yes", "no"):
                problems.append(f"GROUPSESSION_{name} must be true or false, not {raw!r}")
            return raw in ("true", "1", "yes")

        def port_range(name: str) -> tuple[int, int] | None:
            raw = get(name)
            if raw is None:
                return None
            low, dash, high = raw.partition("-")
            if not (dash and low.strip().isdigit() and high.strip().isdigit()):
                problems.append(
                    f"GROUPSESSION_{name} must be a range like 40000-40999, not {raw!r}"
                )
                return None
            return int(low), int(high)

        environment = defaults.environment
        if (raw_env := get("ENV")) is not None:
            try:
                environment = Environment(raw_env)
            except ValueError:
                names = ", ".join(e.value for e in Environment)
                problems.append(f"GROUPSESSION_ENV must be one of {names}, not {raw_env!r}")
        return cls(
            host=get("HOST") or defaults.host,
            port=number("PORT", defaults.port),
            public_url=get("PUBLIC_URL"),
            environment=environment,
            secret=get("SECRET"),
            state_dir=Path(get("STATE_DIR") or defaults.state_dir),
            admin_api_key=get("ADMIN_KEY"),
            log_format=get("LOG_FORMAT") or defaults.log_format,
            log_level=(get("LOG_LEVEL") or defaults.log_level).upper(),
            room_capacity=number("ROOM_CAPACITY", defaults.room_capacity),
            reconnect_grace_s=number("RECONNECT_GRACE_S", defaults.reconnect_grace_s),
            rate_limit_per_s=number("RATE_LIMIT", defaults.rate_limit_per_s),
            rate_burst=number("RATE_BURST", defaults.rate_burst),
            joins_per_minute=number("JOINS_PER_MINUTE", defaults.joins_per_minute),
            join_timeout_s=number("JOIN_TIMEOUT_S", defaults.join_timeout_s),
            max_rooms=number("MAX_ROOMS", defaults.max_rooms),
            waiting_room_size=number("WAITING_ROOM_SIZE", defaults.waiting_room_size),
            token_ttl_s=number("TOKEN_TTL", defaults.token_ttl_s),
            web_dir=Path(get("WEB_DIR") or defaults.web_dir),
            audit_dir=Path(audit) if (audit := get("AUDIT_DIR")) else None,
            allowed_origins=tuple(
                o.strip() for o in (get("ALLOWED_ORIGINS") or "").split(",") if o.strip()
            ),
            tls_cert=Path(cert) if (cert := get("TLS_CERT")) else None,
            tls_key=Path(key) if (key := get("TLS_KEY")) else None,
            behind_tls_proxy=flag("BEHIND_TLS_PROXY"),
            drain_timeout_s=number("DRAIN_TIMEOUT", defaults.drain_timeout_s),
            turn_secret=get("TURN_SECRET"),
            turn_uris=tuple(u.strip() for u in (get("TURN_URIS") or "").split(",") if u.strip()),
            turn_credential_ttl_s=number("TURN_CREDENTIAL_TTL", defaults.turn_credential_ttl_s),
            announced_address=get("ANNOUNCED_ADDRESS"),
            media_ports=port_range("MEDIA_PORTS"),
            redis_url=get("REDIS_URL"),
            redis_prefix=get("REDIS_PREFIX") or defaults.redis_prefix,
            redis_timeout_ms=number("REDIS_TIMEOUT_MS", defaults.redis_timeout_ms),
            node_url=get("NODE_URL"),
            env_problems=tuple(problems),
        )

    def validate(self) -> list[str]:
        """Raise ConfigError naming every fatal problem at once; return the warnings."""
        found = check(self)
        fatal = [p.message for p in found if p.fatal]
        if fatal:
            raise ConfigError(*fatal)
        return [p.message for p in found]

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


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check(config: Config) -> list[Problem]:
    """Every problem with a configuration, each with what to set; nothing is changed."""
    problems = [Problem(message) for message in config.env_problems]
    problems += _ranges(config)
    problems += _urls(config)
    problems += _secrets(config)
    problems += _files(config)
    problems += _tls(config)
    problems += _turn(config)
    problems += _media_network(config)
    return problems


def _ranges(config: Config) -> list[Problem]:
    problems = []
    if not 1 <= config.port <= MAX_PORT:
        problems.append(Problem(f"GROUPSESSION_PORT must be 1 to {MAX_PORT}, not {config.port}"))
    if not MIN_ROOM_CAPACITY <= config.room_capacity <= MAX_ROOM_CAPACITY:
        problems.append(
            Problem(
                f"GROUPSESSION_ROOM_CAPACITY must be {MIN_ROOM_CAPACITY} to "
                f"{MAX_ROOM_CAPACITY}, not {config.room_capacity}"
            )
        )
    if not 0 <= config.reconnect_grace_s <= MAX_RECONNECT_GRACE_S:
        problems.append(
            Problem(
                f"GROUPSESSION_RECONNECT_GRACE_S must be 0 to {MAX_RECONNECT_GRACE_S} seconds, "
                f"not {config.reconnect_grace_s}"
            )
        )
    limits = {
        "RATE_LIMIT": config.rate_limit_per_s,
        "RATE_BURST": config.rate_burst,
        "JOINS_PER_MINUTE": config.joins_per_minute,
        "JOIN_TIMEOUT_S": config.join_timeout_s,
        "MAX_ROOMS": config.max_rooms,
        "WAITING_ROOM_SIZE": config.waiting_room_size,
    }
    for name, value in limits.items():
        if value < 0:
            problems.append(Problem(f"GROUPSESSION_{name} must be 0 (off) or more, not {value}"))
    if not MIN_TOKEN_TTL_S <= config.token_ttl_s <= config.max_token_ttl_s:
        problems.append(
            Problem(
                f"GROUPSESSION_TOKEN_TTL must be {MIN_TOKEN_TTL_S} to {config.max_token_ttl_s} "
                f"seconds, not {config.token_ttl_s}"
            )
        )
    if config.drain_timeout_s < 0:
        problems.append(
            Problem(f"GROUPSESSION_DRAIN_TIMEOUT must be 0 or more, not {config.drain_timeout_s}")
        )
    if not 10 <= config.redis_timeout_ms <= 60_000:
        problems.append(
            Problem(
                "GROUPSESSION_REDIS_TIMEOUT_MS must be 10 to 60000, "
                f"not {config.redis_timeout_ms}"
            )
        )
    if config.redis_url is not None and urlsplit(config.redis_url).scheme not in (
        "redis",
        "rediss",
        "unix",
    ):
        problems.append(
            Problem(
                "GROUPSESSION_REDIS_URL must be a redis://, rediss:// or unix:// URL "
                "(its value is not repeated here: it may carry a password)"
            )
        )
    if not _REDIS_PREFIX.fullmatch(config.redis_prefix):
        problems.append(
            Problem("GROUPSESSION_REDIS_PREFIX is 1 to 32 letters, digits, '-' or '_'")
        )
    if config.log_level not in LOG_LEVELS:
        problems.append(
            Problem(
                f"GROUPSESSION_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, "
                f"not {config.log_level!r}"
            )
        )
    if config.log_format not in LOG_FORMATS:
        problems.append(
            Problem(f"GROUPSESSION_LOG_FORMAT must be text or json, not {config.log_format!r}")
        )
    return problems


def _url_problem(url: str) -> str | None:
    """Why ``url`` is not a bare http(s) origin (a trailing slash allowed), or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a port out of range or not a number
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    if not parts.hostname:
        return "has no host"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "must have no path, query or fragment (links are served from its root)"
    return None


def _urls(config: Config) -> list[Problem]:
    problems = []
    if config.public_url is not None and (why := _url_problem(config.public_url)):
        problems.append(Problem(f"GROUPSESSION_PUBLIC_URL {why}: {config.public_url!r}"))
    for origin in config.allowed_origins:
        if why := _url_problem(origin):
            problems.append(Problem(f"GROUPSESSION_ALLOWED_ORIGINS: {origin!r} {why}"))
    if config.node_url is not None and (why := _url_problem(config.node_url)):
        problems.append(Problem(f"GROUPSESSION_NODE_URL {why}: {config.node_url!r}"))
    if problems or config.environment is not Environment.PRODUCTION:
        return problems  # a malformed URL says so once, not again as "not https"
    if not config.served_over_https:
        problems.append(
            Problem(
                "production needs https: browsers allow the camera and microphone only on "
                "secure pages. Set GROUPSESSION_PUBLIC_URL=https://... and either "
                "GROUPSESSION_TLS_CERT and GROUPSESSION_TLS_KEY, or "
                "GROUPSESSION_BEHIND_TLS_PROXY=true behind a TLS-terminating proxy"
            )
        )
    elif not config.tls and not config.behind_tls_proxy:
        problems.append(
            Problem(
                "GROUPSESSION_PUBLIC_URL is https but nothing here terminates TLS: set "
                "GROUPSESSION_TLS_CERT and GROUPSESSION_TLS_KEY, or "
                "GROUPSESSION_BEHIND_TLS_PROXY=true if a reverse proxy does"
            )
        )
    return problems


def _weak_secret(value: str) -> str | None:
    if len(value) < MIN_SECRET_LENGTH:
        return f"must be at least {MIN_SECRET_LENGTH} characters"
    if value.lower() in KNOWN_DEFAULT_SECRETS:
        return "is an example value from the documentation"
    if len(set(value)) < MIN_DISTINCT_SECRET_CHARACTERS:
        return "looks typed rather than generated (use openssl rand -base64 48)"
    return None


def _secrets(config: Config) -> list[Problem]:
    production = config.environment is Environment.PRODUCTION
    problems = []
    if config.secret is None and production:
        problems.append(Problem("GROUPSESSION_SECRET is required when GROUPSESSION_ENV=production"))
    elif config.secret is not None:
        # Development accepts any secret long enough; production also refuses weak ones.
        why = _weak_secret(config.secret)
        if why and (production or len(config.secret) < MIN_SECRET_LENGTH):
            problems.append(Problem(f"GROUPSESSION_SECRET {why}"))
    if production and config.admin_api_key is not None:
        if why := _weak_secret(config.admin_api_key):
            problems.append(Problem(f"GROUPSESSION_ADMIN_KEY {why}"))
        elif config.admin_api_key == config.secret:
            problems.append(Problem("GROUPSESSION_ADMIN_KEY must differ from GROUPSESSION_SECRET"))
    return problems


def _writable_directory(path: Path) -> str | None:
    """Why ``path`` cannot be (made) a writable directory, or None; creates nothing."""
    if path.exists():
        if not path.is_dir():
            return "exists and is not a directory"
        if not os.access(path, os.W_OK | os.X_OK):
            return "is not writable by this user"
        return None
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot be created: {parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot be created: {parent} is not writable by this user"
    return None


def _files(config: Config) -> list[Problem]:
    problems = []
    if config.audit_dir is not None and (why := _writable_directory(config.audit_dir)):
        problems.append(Problem(f"GROUPSESSION_AUDIT_DIR {config.audit_dir} {why}"))
    index = config.web_dir / "index.html"
    if not index.is_file():
        production = config.environment is Environment.PRODUCTION
        problems.append(
            Problem(
                f"the web client is not built: {index} is missing (GROUPSESSION_WEB_DIR; "
                "build it with `npm ci && npm run build` in web_client/)",
                fatal=production,
            )
        )
    return problems


def _tls(config: Config) -> list[Problem]:
    if not config.tls:
        return []
    if config.tls_cert is None or config.tls_key is None:
        return [Problem("GROUPSESSION_TLS_CERT and GROUPSESSION_TLS_KEY go together: set both")]
    missing = [
        Problem(f"{name} {path} is not a readable file")
        for name, path in (
            ("GROUPSESSION_TLS_CERT", config.tls_cert),
            ("GROUPSESSION_TLS_KEY", config.tls_key),
        )
        if not (path.is_file() and os.access(path, os.R_OK))
    ]
    if missing:
        return missing
    try:
        server_tls_context(config)
    except (ssl.SSLError, OSError) as error:
        return [Problem(f"GROUPSESSION_TLS_CERT and GROUPSESSION_TLS_KEY do not load: {error}")]
    return []


def server_tls_context(config: Config) -> ssl.SSLContext | None:
    """The listening socket's TLS context, or None when TLS is not terminated here."""
    if config.tls_cert is None or config.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.tls_cert, config.tls_key)
    return context


def _turn(config: Config) -> list[Problem]:
    problems = []
    if (config.turn_secret is None) != (not config.turn_uris):
        problems.append(
            Problem("GROUPSESSION_TURN_SECRET and GROUPSESSION_TURN_URIS go together: set both")
        )
    for uri in config.turn_uris:
        if why := turn_uri_problem(uri):
            problems.append(Problem(f"GROUPSESSION_TURN_URIS: {uri!r} {why}"))
    if not MIN_CREDENTIAL_TTL_S <= config.turn_credential_ttl_s <= MAX_CREDENTIAL_TTL_S:
        problems.append(
            Problem(
                f"GROUPSESSION_TURN_CREDENTIAL_TTL must be {MIN_CREDENTIAL_TTL_S} to "
                f"{MAX_CREDENTIAL_TTL_S} seconds, not {config.turn_credential_ttl_s}"
            )
        )
    if config.turn_secret is not None:
        why = _weak_secret(config.turn_secret)
        production = config.environment is Environment.PRODUCTION
        if why and (production or len(config.turn_secret) < MIN_SECRET_LENGTH):
            problems.append(Problem(f"GROUPSESSION_TURN_SECRET {why}"))
        elif config.turn_secret in (config.secret, config.admin_api_key):
            problems.append(
                Problem(
                    "GROUPSESSION_TURN_SECRET must differ from the other secrets (coturn holds it)"
                )
            )
    return problems


def _media_network(config: Config) -> list[Problem]:
    problems = []
    if config.announced_address is not None:
        try:
            address = ipaddress.ip_address(config.announced_address)
        except ValueError:
            address = None
        if address is None or address.is_unspecified or address.is_multicast:
            problems.append(
                Problem(
                    "GROUPSESSION_ANNOUNCED_ADDRESS must be the IP address browsers reach the "
                    f"server at, not {config.announced_address!r}"
                )
            )
    if config.media_ports is not None:
        low, high = config.media_ports
        if not 1024 <= low <= high <= MAX_PORT:
            problems.append(
                Problem(
                    f"GROUPSESSION_MEDIA_PORTS must be a range within 1024-{MAX_PORT}, "
                    f"low to high, not {low}-{high}"
                )
            )
        elif high - low + 1 < MIN_MEDIA_PORTS:
            problems.append(
                Problem(
                    f"GROUPSESSION_MEDIA_PORTS must hold at least {MIN_MEDIA_PORTS} ports "
                    f"(each peer connection takes one), not {high - low + 1}"
                )
            )
    return problems
