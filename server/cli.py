"""The `groupsession` command: serve, mint join links, run the media benchmark."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from aiohttp import web

from rooms import Role
from server.app import create_app
from server.app_keys import STORE
from server.config import Config, ConfigError, Environment, server_tls_context
from server.links import mint_join_link, mint_operator_link
from server.logs import configure_logging
from server.readiness import READINESS
from server.system_clock import SystemClock
from signaling.tokens import TokenSigner, valid_room_id

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["bench"]:
        # Its arguments are the benchmark's own, checked there.
        return _bench(arguments[1:])
    parser = _parser()
    args = parser.parse_args(arguments)
    try:
        config = _config(args)
        code: int = args.run(config, args)
    except ConfigError as error:
        for problem in error.problems:
            print(f"groupsession: {problem}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"groupsession: {error}", file=sys.stderr)
        return 2
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="groupsession", description="Live video group sessions for facilitated groups."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the server")
    _add_common(serve)
    serve.add_argument("--log-format", choices=["text", "json"], help="GROUPSESSION_LOG_FORMAT")
    serve.add_argument(
        "--demo-room",
        metavar="ROOM",
        help="print a facilitator link and a member link for ROOM once listening",
    )
    _add_tls(serve)
    serve.set_defaults(run=_serve)

    check = commands.add_parser(
        "check", help="check the configuration as serve does, without serving (exit 2: problems)"
    )
    _add_common(check)
    _add_tls(check)
    check.set_defaults(run=_check)

    token = commands.add_parser("token", help="print a join link (its last line)")
    _add_common(token)
    token.add_argument("--room", required=True)
    token.add_argument("--role", required=True, choices=[r.value for r in Role])
    token.add_argument("--name", required=True, help="the display name the room will show")
    token.add_argument(
        "--ttl", type=int, help="seconds the link stays valid (GROUPSESSION_TOKEN_TTL)"
    )
    token.set_defaults(run=_token)

    operator = commands.add_parser(
        "operator-token", help="print a link to the operator page (its last line)"
    )
    _add_common(operator)
    operator.add_argument("--ttl", type=int, help="seconds the link is valid (default 12 h)")
    operator.set_defaults(run=_operator_token)

    # Listed for --help only: main() hands its arguments to the benchmark unparsed.
    commands.add_parser(
        "bench",
        help="run benchmarks/media_forwarding.py from a source checkout; prints JSON last",
    )
    return parser


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="GROUPSESSION_HOST (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="GROUPSESSION_PORT (default 8080)")
    parser.add_argument("--public-url", help="GROUPSESSION_PUBLIC_URL: the address in links")


def _add_tls(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tls-cert", type=Path, help="GROUPSESSION_TLS_CERT: PEM certificate chain"
    )
    parser.add_argument("--tls-key", type=Path, help="GROUPSESSION_TLS_KEY: its PEM private key")


def _config(args: argparse.Namespace) -> Config:
    config = Config.from_env()
    overrides: dict[str, object] = {}
    for flag in ("host", "port", "public_url", "log_format", "tls_cert", "tls_key"):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[flag] = value
    return replace(config, **overrides)  # type: ignore[arg-type]


def _check(config: Config, args: argparse.Namespace) -> int:
    for warning in config.validate():
        print(f"groupsession: warning: {warning}", file=sys.stderr)
    print("configuration ok")
    return 0


def _serve(config: Config, args: argparse.Namespace) -> int:
    for warning in config.validate():  # every fatal problem at once, before listening
        print(f"groupsession: warning: {warning}", file=sys.stderr)
    configure_logging(config.log_format, config.log_level)
    app = create_app(config)
    if config.environment is Environment.DEVELOPMENT and config.secret is None:
        print(f"development mode: join links are signed with {config.state_dir}/dev-secret")
    demo_room = args.demo_room

    async def announce(_: web.Application) -> None:
        print(f"groupsession listening on {config.base_url}", flush=True)
        if demo_room:
            for role, name in ((Role.FACILITATOR, "Facilitator"), (Role.MEMBER, "Member")):
                print(
                    f"{role.value} link: {_link(config, demo_room, role, name, None)}", flush=True
                )

    app.on_startup.append(announce)
    asyncio.run(_run_until_stopped(app, config))
    return 0


async def _run_until_stopped(app: web.Application, config: Config) -> None:
    """Serve until SIGTERM or SIGINT, then drain: /readyz says so and new connections
    are refused while sessions in progress go on, for up to GROUPSESSION_DRAIN_TIMEOUT
    seconds or until no one is left, then close everything."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, ssl_context=server_tls_context(config))
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
        app[READINESS].drain()
        logger.info(
            "draining: no new sessions; stopping when everyone has left or after %d s",
            config.drain_timeout_s,
        )
        deadline = time.monotonic() + config.drain_timeout_s
        # Polled: rooms emptying is a domain fact with no event the process can await.
        while time.monotonic() < deadline and _anyone_connected(app):  # noqa: ASYNC110
            await asyncio.sleep(1)
    finally:
        await runner.cleanup()


def _anyone_connected(app: web.Application) -> bool:
    # Whoever's connection dropped cannot come back to a draining server: not waited for.
    return any(
        any(not p.reconnecting for p in (*room.admitted(), *room.waiting()))
        for room in app[STORE]
        if not room.ended
    )


def _parsed(config: Config) -> Config:
    """Links name the server's address: a setting that could not be read must not
    silently become its default in one."""
    if config.env_problems:
        raise ConfigError(*config.env_problems)
    return config


def _link(config: Config, room: str, role: Role, name: str, ttl: int | None) -> str:
    _parsed(config)
    if not valid_room_id(room):
        raise ValueError("a room id is 1 to 64 letters, digits, '-' or '_'")
    ttl_s = min(ttl or config.token_ttl_s, config.max_token_ttl_s)
    if ttl_s <= 0:
        raise ValueError("--ttl must be positive")
    link = mint_join_link(
        TokenSigner(config.signing_secret()),
        config.base_url,
        room_id=room,
        role=role,
        display_name=name,
        ttl_s=ttl_s,
        now=SystemClock().now(),
    )
    return link.url


def _token(config: Config, args: argparse.Namespace) -> int:
    print(_link(config, args.room, Role(args.role), args.name, args.ttl))
    return 0


def _operator_token(config: Config, args: argparse.Namespace) -> int:
    _parsed(config)
    ttl_s = args.ttl or config.operator_token_ttl_s
    if ttl_s <= 0:
        raise ValueError("--ttl must be positive")
    link = mint_operator_link(
        TokenSigner(config.signing_secret()), config.base_url, ttl_s=ttl_s, now=SystemClock().now()
    )
    print(link.url)
    return 0


def _bench(arguments: list[str]) -> int:
    # The benchmark and its load are not part of the installed package: they live
    # beside it in the source checkout, which is where this command looks for them.
    checkout = Path(__file__).resolve().parent.parent
    if not (checkout / "benchmarks" / "media_forwarding.py").is_file():
        print("groupsession bench: the benchmarks come with the source checkout", file=sys.stderr)
        return 2
    command = [sys.executable, "-m", "benchmarks.media_forwarding", *arguments]
    return subprocess.run(command, cwd=checkout, check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main())
