"""The `groupsession` command: serve, mint join links, run the media benchmark."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Sequence
from dataclasses import replace
from pathlib import Path

from aiohttp import web

from rooms import Role
from server.app import create_app
from server.app_keys import RECORDS, SIGNALING, STORE
from server.config import MAX_PORT, Config, ConfigError, Environment, server_tls_context
from server.links import mint_join_link, mint_operator_link
from server.logs import configure_logging
from server.readiness import READINESS
from server.system_clock import SystemClock
from signaling.tokens import TokenSigner, valid_room_id

logger = logging.getLogger(__name__)

# After SIGTERM, clients are told to reconnect after about this long (a restart, or
# the load balancer sending them to another node).
SHUTDOWN_RETRY_AFTER_S = 2.0
# Each step of the shutdown (telling clients, writing rooms, ending sessions,
# closing) is given at most this long, so the process always exits.
SHUTDOWN_STEP_S = 10
SHUTDOWN_CLOSE_S = 3.0
# serve --workers: at most this many, and a dead worker is started again after this.
MAX_WORKERS = 64
WORKER_RESTART_S = 1.0


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
    _add_redis(serve)
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="run N processes (nodes) sharing the port; needs Redis (docs/deployment.md)",
    )
    # Set by --workers for each worker it starts; not for people.
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    serve.add_argument("--node-port", type=int, help=argparse.SUPPRESS)
    serve.set_defaults(run=_serve)

    check = commands.add_parser(
        "check", help="check the configuration as serve does, without serving (exit 2: problems)"
    )
    _add_common(check)
    _add_tls(check)
    _add_redis(check)
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


def _add_redis(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--redis-url",
        metavar="URL",
        help="GROUPSESSION_REDIS_URL: keep rooms in Redis so they survive a restart",
    )


def _config(args: argparse.Namespace) -> Config:
    config = Config.from_env()
    overrides: dict[str, object] = {}
    for flag in ("host", "port", "public_url", "log_format", "tls_cert", "tls_key", "redis_url"):
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
    if args.workers != 1:
        return _supervise(config, args)
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
    asyncio.run(_run_until_stopped(app, config, args.reuse_port, args.node_port))
    return 0


async def _run_until_stopped(
    app: web.Application, config: Config, reuse_port: bool = False, node_port: int | None = None
) -> None:
    """Serve until SIGTERM or SIGINT, then shut down in bounded time: /readyz says
    draining, new connections and joins are refused, and everyone in a room is told
    (``server_shutting_down`` with a retry hint). Then:

    - with Redis, sessions outlive this process: every room is written as it is and
      the server stops at once; clients reconnect (to the restarted server or
      another) and rejoin as themselves;
    - in memory, sessions cannot outlive it: those in progress go on for up to
      GROUPSESSION_DRAIN_TIMEOUT seconds or until no one is left, then every session
      still open is ended properly (everyone told, audit trails kept)."""
    # Open connections get this long to close by themselves before they are cut (they
    # have been told, and their clients reconnect): the step must not wait a minute.
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_CLOSE_S
    )
    await runner.setup()
    tls = server_tls_context(config)
    # A worker shares the public port with its siblings (SO_REUSEPORT: the kernel
    # spreads new connections) and has a port of its own for joins redirected to it.
    site = web.TCPSite(runner, config.host, config.port, ssl_context=tls, reuse_port=reuse_port)
    await site.start()
    if node_port is not None:
        await web.TCPSite(runner, config.host, node_port, ssl_context=tls).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
        app[READINESS].drain()
        signaling, durable = app[SIGNALING], app[RECORDS].durable
        await _bounded("telling clients", signaling.announce_shutdown(
            SHUTDOWN_RETRY_AFTER_S, sessions_continue=durable
        ))  # fmt: skip
        if durable:
            logger.info("shutting down: every room is written to Redis and continues")
            await _bounded("writing rooms", signaling.hand_off())
            return
        logger.info(
            "draining: no new sessions; stopping when everyone has left or after %d s",
            config.drain_timeout_s,
        )
        deadline = time.monotonic() + config.drain_timeout_s
        # Polled: rooms emptying is a domain fact with no event the process can await.
        while time.monotonic() < deadline and _anyone_connected(app):  # noqa: ASYNC110
            await asyncio.sleep(1)
        await _bounded("ending sessions", signaling.end_all_sessions("server_shutdown"))
    finally:
        await _bounded("closing", runner.cleanup())


def _supervise(config: Config, args: argparse.Namespace) -> int:
    """``serve --workers N``: N worker processes, each a node (server.cluster), all
    listening on the public port (SO_REUSEPORT) and each on a port of its own, the
    public port + 1 + its number, where joins for its rooms are redirected. Workers that
    die are started again (the same node: its rooms come back from Redis); SIGTERM or
    SIGINT is passed on to every worker, which shut down as ``serve`` does."""
    if not 1 <= args.workers <= MAX_WORKERS:
        raise ValueError(f"--workers is 1 to {MAX_WORKERS}")
    if config.redis_url is None:
        raise ValueError(
            "--workers needs Redis (--redis-url or GROUPSESSION_REDIS_URL): "
            "the workers share rooms through it"
        )
    if config.node_url is not None:
        raise ValueError(
            "--workers gives each worker its own node URL: unset GROUPSESSION_NODE_URL"
        )
    if config.port + args.workers > MAX_PORT:
        raise ValueError(f"--workers needs ports {config.port} to {config.port + args.workers}")
    configure_logging(config.log_format, config.log_level)
    return asyncio.run(_run_workers(config, args))


async def _run_workers(config: Config, args: argparse.Namespace) -> int:
    scheme = "https" if config.tls else "http"
    host = f"[{config.host}]" if ":" in config.host else config.host
    node_urls = [f"{scheme}://{host}:{config.port + 1 + i}" for i in range(args.workers)]
    env = dict(os.environ)
    # What flags set reaches the workers as the environment (flags win over it).
    env.update(
        {
            "GROUPSESSION_HOST": config.host,
            "GROUPSESSION_PORT": str(config.port),
            "GROUPSESSION_REDIS_URL": config.redis_url or "",
            "GROUPSESSION_LOG_FORMAT": config.log_format,
            # The page (public origin) connects to the workers' own addresses.
            "GROUPSESSION_ALLOWED_ORIGINS": ",".join([*config.allowed_origins, *node_urls]),
        }
    )
    for name, value in (
        ("GROUPSESSION_PUBLIC_URL", config.public_url),
        ("GROUPSESSION_TLS_CERT", config.tls_cert),
        ("GROUPSESSION_TLS_KEY", config.tls_key),
    ):
        if value is not None:
            env[name] = str(value)

    async def start(number: int) -> asyncio.subprocess.Process:
        command = [sys.executable, "-m", "server", "serve", "--reuse-port"]
        command += ["--node-port", str(config.port + 1 + number)]
        if number == 0 and args.demo_room:
            command += ["--demo-room", args.demo_room]
        return await asyncio.create_subprocess_exec(
            *command, env=env | {"GROUPSESSION_NODE_URL": node_urls[number]}
        )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    workers = [await start(i) for i in range(args.workers)]
    print(f"groupsession: {args.workers} workers on {config.base_url}", flush=True)

    async def watch(number: int) -> None:
        while not stop.is_set():
            code = await workers[number].wait()
            if stop.is_set():
                return
            logger.warning("worker %d exited with %d; starting it again", number, code)
            await asyncio.sleep(WORKER_RESTART_S)
            if not stop.is_set():
                workers[number] = await start(number)

    watchers = [asyncio.create_task(watch(i)) for i in range(len(workers))]
    await stop.wait()
    for worker in workers:
        if worker.returncode is None:
            worker.send_signal(signal.SIGTERM)
    # Each worker bounds its own shutdown; this bounds the whole in case one hangs.
    deadline = config.drain_timeout_s + 5 * SHUTDOWN_STEP_S
    try:
        await asyncio.wait_for(asyncio.gather(*(w.wait() for w in workers)), deadline)
    except TimeoutError:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
    for watcher in watchers:
        watcher.cancel()
    await asyncio.gather(*watchers, return_exceptions=True)
    return 0 if all(w.returncode == 0 for w in workers) else 1


async def _bounded(step: str, work: Awaitable[object]) -> None:
    """One step of the shutdown, given at most SHUTDOWN_STEP_S: the process must exit."""
    try:
        await asyncio.wait_for(work, SHUTDOWN_STEP_S)
    except TimeoutError:
        logger.warning("shutdown: %s took longer than %d s; going on", step, SHUTDOWN_STEP_S)


def _anyone_connected(app: web.Application) -> bool:
    # Whoever's connection dropped cannot come back to a draining server: not waited for.
    return any(
        any(not p.connection_lost for p in (*room.admitted(), *room.waiting()))
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
