"""`groupsession serve` as separate processes: started, stopped gracefully, killed,
and started again on the same port, as an operator (or a crash) would."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from benchmarks.measures import children_of
from rooms import Role
from server.links import mint_join_link
from signaling.tokens import TokenSigner
from tests.conftest import TEST_SECRET
from tests.redis_server import free_port

START_TIMEOUT_S = 30.0


@dataclass
class ServerProcess:
    state_dir: Path
    redis_url: str | None = None
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    # One token per (room, role, name): the same person keeps their link across restarts.
    _tokens: dict[tuple[str, Role, str], str] = field(default_factory=dict)
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def token(self, room: str, role: Role, name: str) -> str:
        key = (room, role, name)
        if key not in self._tokens:
            link = mint_join_link(
                TokenSigner(TEST_SECRET),
                self.url,
                room_id=room,
                role=role,
                display_name=name,
                ttl_s=600,
                now=time.time(),
            )
            self._tokens[key] = link.token
        return self._tokens[key]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GROUPSESSION_")}
        env.update(
            {
                "GROUPSESSION_SECRET": TEST_SECRET,
                "GROUPSESSION_STATE_DIR": str(self.state_dir),
                "GROUPSESSION_WEB_DIR": str(self.state_dir / "web"),
                **self.extra_env,
            }
        )
        if self.redis_url is not None:
            env["GROUPSESSION_REDIS_URL"] = self.redis_url
        return env

    async def start(self) -> None:
        """Start and wait until /readyz says ready."""
        self.spawn()
        await self.ready()

    def spawn(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.state_dir / f"serve-{time.monotonic_ns()}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "server", "serve", "--port", str(self.port)],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        async with aiohttp.ClientSession() as http:
            while True:
                if self.process.poll() is not None:
                    raise AssertionError(f"serve exited early: {self.output()}")
                try:
                    async with http.get(self.url + "/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"serve not ready in time: {self.output()}")
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        """kill -9: no shutdown of any kind."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    async def exited(self, timeout: float) -> int:
        """Wait for the process to end; its exit code."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while (code := self.process.poll()) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"serve still running after {timeout}s: {self.output()}")
            await asyncio.sleep(0.05)
        return code

    def output(self) -> str:
        return "" if self.log_path is None else self.log_path.read_text(errors="replace")


def free_port_run(count: int) -> int:
    """A port with the ``count - 1`` ports above it free too (the workers' own)."""
    while True:
        first = free_port()
        probes = [socket.socket() for _ in range(count - 1)]
        try:
            for offset, probe in enumerate(probes, start=1):
                probe.bind(("127.0.0.1", first + offset))
            return first
        except OSError:
            continue
        finally:
            for probe in probes:
                probe.close()


@contextmanager
def serve_workers(
    state_dir: Path, redis_url: str, workers: int, web_dir: Path | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """``groupsession serve --workers N`` on a free run of ports: the process, the public
    port (worker i's own is port + 1 + i) and its log. Killed, with its workers, after."""
    port = free_port_run(workers + 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROUPSESSION_")}
    env |= {
        "GROUPSESSION_SECRET": TEST_SECRET,
        "GROUPSESSION_STATE_DIR": str(state_dir),
        "GROUPSESSION_WEB_DIR": str(web_dir or state_dir / "web"),
    }
    state_dir.mkdir(parents=True, exist_ok=True)
    log = state_dir / "workers.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--workers", str(workers),
             "--port", str(port), "--redis-url", redis_url],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield process, port, log
    finally:
        children = children_of(process.pid)
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        for child in children + children_of(process.pid):
            with suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
