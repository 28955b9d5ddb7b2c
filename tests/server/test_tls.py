"""Built-in TLS: a self-signed certificate made for the test, served by the real
server and by the real command, fetched by clients that trust that certificate only."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import socketio

from rooms import Role
from tests.conftest import start_server
from tests.self_signed import make_certificate
from tests.server.test_cli import _env, _free_port


async def test_https_and_wss_with_a_trusted_certificate(tmp_path: Path) -> None:
    certificate = make_certificate(tmp_path / "tls")
    runner, server = await start_server(
        tmp_path, tls_cert=certificate.cert, tls_key=certificate.key
    )
    try:
        assert server.url.startswith("https://")
        trusting = aiohttp.TCPConnector(ssl=certificate.client_context())
        async with aiohttp.ClientSession(connector=trusting) as http:
            async with http.get(server.url + "/healthz") as response:
                assert response.status == 200
                assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
                assert (
                    f"wss://127.0.0.1:{server.config.port}"
                    in (response.headers["Content-Security-Policy"])
                )
            client = socketio.AsyncClient(reconnection=False, http_session=http)
            await client.connect(
                server.url,
                headers={"Origin": server.url},
                transports=["websocket"],
                wait_timeout=5,
            )
            reply = await client.call(
                "join", {"token": server.token("r1", Role.FACILITATOR, "Fran")}, timeout=10
            )
            assert reply["ok"], reply
            await client.disconnect()
        # A client that does not trust this certificate refuses the server.
        async with aiohttp.ClientSession() as untrusting:
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await untrusting.get(server.url + "/healthz")
        # Plain http on the TLS port gets nowhere.
        async with aiohttp.ClientSession() as plain:
            with pytest.raises(aiohttp.ClientError):
                await plain.get(server.url.replace("https://", "http://") + "/healthz")
    finally:
        await runner.cleanup()


def test_serve_with_tls_flags(tmp_path: Path) -> None:
    certificate = make_certificate(tmp_path / "tls")
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server",
            "serve",
            "--port",
            str(port),
            "--tls-cert",
            str(certificate.cert),
            "--tls-key",
            str(certificate.key),
        ],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    async def fetch() -> int:
        context: ssl.SSLContext = certificate.client_context()
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
            while True:
                try:
                    async with http.get(f"https://127.0.0.1:{port}/readyz") as response:
                        return response.status
                except aiohttp.ClientConnectorError:
                    assert time.monotonic() < deadline, "serve did not come up"
                    await asyncio.sleep(0.1)

    try:
        assert asyncio.run(fetch()) == 200
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=15)
    assert f"groupsession listening on https://127.0.0.1:{port}" in output
