"""The `groupsession` command: serve, mint join links, run the media benchmark."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace

from aiohttp import web

from rooms import Role
from server.app import create_app
from server.clock import SystemClock
from server.config import Config, ConfigError, Environment
from server.links import mint_join_link, mint_operator_link
from server.logs import configure_logging
from signaling.tokens import TokenSigner, valid_room_id


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = _config(args)
        code: int = args.run(config, args)
    except ConfigError as error:
        print(f"groupsession: {error}", file=sys.stderr)
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
    serve.set_defaults(run=_serve)

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

    bench = commands.add_parser("bench", help="measure the media plane; prints JSON last")
    bench.add_argument(
        "--participants",
        type=_bounded(int, 2, 30),
        default=8,
        help="participants in the room, 2-30 (default 8)",
    )
    bench.add_argument(
        "--duration",
        type=_bounded(float, 1, 600),
        default=10.0,
        help="seconds of steady load, 1-600 (default 10)",
    )
    bench.set_defaults(run=_bench)
    return parser


def _bounded(kind: Callable[[str], float], lowest: float, highest: float) -> Callable[[str], float]:
    """An argparse type: a number from ``lowest`` to ``highest`` (a benchmark's load is bounded)."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not lowest <= value <= highest:
            raise argparse.ArgumentTypeError(f"{text} is not between {lowest:g} and {highest:g}")
        return value

    return parse


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="GROUPSESSION_HOST (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="GROUPSESSION_PORT (default 8080)")
    parser.add_argument("--public-url", help="GROUPSESSION_PUBLIC_URL: the address in links")


def _config(args: argparse.Namespace) -> Config:
    config = Config.from_env()
    overrides: dict[str, object] = {}
    for flag in ("host", "port", "public_url", "log_format"):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[flag] = value
    return replace(config, **overrides)  # type: ignore[arg-type]


def _serve(config: Config, args: argparse.Namespace) -> int:
    configure_logging(config.log_format, config.log_level)
    app = create_app(config)  # fails early, before listening, on a bad configuration
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
    web.run_app(app, host=config.host, port=config.port, print=None, access_log=None)
    return 0


def _link(config: Config, room: str, role: Role, name: str, ttl: int | None) -> str:
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
    ttl_s = args.ttl or config.operator_token_ttl_s
    if ttl_s <= 0:
        raise ValueError("--ttl must be positive")
    link = mint_operator_link(
        TokenSigner(config.signing_secret()), config.base_url, ttl_s=ttl_s, now=SystemClock().now()
    )
    print(link.url)
    return 0


def _bench(config: Config, args: argparse.Namespace) -> int:
    from server.media.bench import run_benchmark

    figures = run_benchmark(participants=args.participants, duration_s=args.duration)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
