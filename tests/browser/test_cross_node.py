"""A join link pointed at the wrong node, in a real browser: `groupsession serve
--workers 2` with a real Redis; a facilitator's first join places the room on worker
A, then a member opens a link to worker B's own address. B answers ``wrong_node``;
the web client follows it to A without the person noticing (no refusal, no
"reconnecting", no notice), lands in the same room and sees and decodes the
facilitator's video. If A then dies, the client goes back to the address it came
from and comes back in the room wherever it is served now."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from playwright.async_api import ConsoleMessage, WebSocket, expect

from rooms import Role
from server.cluster import node_id_for
from tests.browser.conftest import OpenPage, Person, participant_ids
from tests.browser.test_group_session import join, plays_video_of, wait_until_rises
from tests.redis_server import RedisServer
from tests.server.durable.test_workers import ready
from tests.server.processes import ServerProcess, serve_workers
from tests.server.sfu.peers import eventually, eventually_async

pytestmark = pytest.mark.browser

ROOM = "cross-node"
BACK_TIMEOUT_MS = 60_000  # a dead node's lease runs out in 6 s; the rest is a loaded machine

# Every 20 ms, what the person could see change: the phase, the connection, a notice.
_WATCH = """() => {
  window.__seen = [];
  window.setInterval(() => {
    const s = window.groupsession.state();
    const now = `${s.phase}|${s.connection}|${s.notice}`;
    if (window.__seen[window.__seen.length - 1] !== now) window.__seen.push(now);
  }, 20);
}"""


@pytest.fixture
def two_workers(
    tmp_path: Path, redis_server: RedisServer, web_dist: Path
) -> Iterator[tuple[int, int]]:
    """The workers' own addresses: (worker A's port, worker B's port)."""
    with serve_workers(tmp_path / "serve", redis_server.url, 2, web_dir=web_dist) as started:
        _, port, _ = started
        yield port + 1, port + 2


async def placement(redis_url: str, room: str) -> str | None:
    raw = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        owner = await raw.get(f"gs:placement:{room}")
        return None if owner is None else str(owner)
    finally:
        await raw.aclose()


def watch(person: Person) -> tuple[list[str], list[str]]:
    """The WebSocket addresses a page opens, in order, and the errors its console shows
    (but the browser's own request for a favicon, which the app does not have)."""
    opened: list[str] = []
    errors: list[str] = []

    def on_socket(socket: WebSocket) -> None:
        opened.append(socket.url)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.location["url"].endswith("/favicon.ico"):
            errors.append(f"{message.text} at {message.location['url']}")

    person.page.on("websocket", on_socket)
    person.page.on("console", on_console)
    person.page.on("pageerror", lambda error: errors.append(str(error)))
    return opened, errors


async def test_a_link_to_the_wrong_node_lands_in_the_room_unnoticed(
    two_workers: tuple[int, int], redis_server: RedisServer, open_page: OpenPage
) -> None:
    port_a, port_b = two_workers
    node_a = ServerProcess(Path("unused"), port=port_a)  # links to worker A's own address
    node_b = ServerProcess(Path("unused"), port=port_b)
    node_b._tokens = node_a._tokens  # one person, one token, whatever address it names
    for node in (node_a, node_b):
        await eventually_async(lambda n=node: ready(n.url), 30, f"{node.url} ready", 0.2)

    # The facilitator's first join, at A, places the room there (the idle node asked first).
    fay = await open_page(node_a, ROOM, Role.FACILITATOR, "Fay")
    await join(fay)
    await expect(fay.page.get_by_role("heading", name="Facilitator")).to_be_visible()
    assert await placement(redis_server.url, ROOM) == node_id_for(node_a.url)

    # Anna's link names B. The page is served by B; its join is redirected to A.
    anna = await open_page(node_b, ROOM, Role.MEMBER, "Anna")
    anna_sockets, anna_errors = watch(anna)
    await anna.page.evaluate(_WATCH)
    await join(anna)
    await fay.page.get_by_role("button", name="Admit Anna", exact=True).click(timeout=30_000)
    await anna.page.wait_for_function(
        "() => window.groupsession.state().phase === 'in_room'", timeout=30_000, polling=100
    )
    await expect(anna.page.get_by_role("button", name="Raise hand", exact=True)).to_be_visible()
    ids = await participant_ids(anna.page)
    assert set(ids) == {"Fay", "Anna"}
    await plays_video_of(anna, fay, ids["Fay"])
    await wait_until_rises(fay.page, ids["Anna"], "video", "framesDecoded", 10)

    # It went through B to A, and the person saw nothing of it.
    assert [f":{port_b}/" in url for url in anna_sockets[:1]] == [True], anna_sockets
    assert any(f":{port_a}/" in url for url in anna_sockets[1:]), anna_sockets
    seen: list[str] = await anna.page.evaluate("window.__seen")
    assert not any("reconnecting" in s or "refused" in s for s in seen), seen
    assert all(s.endswith("|null") for s in seen), seen
    assert anna_errors == []
    await expect(anna.page.locator(".notice")).to_have_count(0)
    await anna.screenshot("cross-node-redirected")


async def test_when_the_rooms_node_dies_the_client_goes_back_to_where_it_came_from(
    two_workers: tuple[int, int], redis_server: RedisServer, open_page: OpenPage
) -> None:
    port_a, port_b = two_workers
    node_a = ServerProcess(Path("unused"), port=port_a)
    node_b = ServerProcess(Path("unused"), port=port_b)
    node_b._tokens = node_a._tokens
    for node in (node_a, node_b):
        await eventually_async(lambda n=node: ready(n.url), 30, f"{node.url} ready", 0.2)
    fay = await open_page(node_a, ROOM, Role.FACILITATOR, "Fay")
    await join(fay)
    await expect(fay.page.get_by_role("heading", name="Facilitator")).to_be_visible()
    anna = await open_page(node_b, ROOM, Role.MEMBER, "Anna")
    anna_sockets, _ = watch(anna)
    await join(anna)
    await fay.page.get_by_role("button", name="Admit Anna", exact=True).click(timeout=30_000)
    await anna.page.wait_for_function(
        "() => window.groupsession.state().phase === 'in_room'", timeout=30_000, polling=100
    )
    ids = await participant_ids(anna.page)

    # Worker A is killed outright; the supervisor starts it again under the same address,
    # but Anna's client does not wait for that: it goes back to B, which places the room
    # anew once A's lease has run out (or sends her to A again if A is back by then).
    worker_a = worker_listening_on(port_a)
    opened_before = len(anna_sockets)
    os.kill(worker_a, signal.SIGKILL)
    await eventually(
        lambda: any(f":{port_b}/" in url for url in anna_sockets[opened_before:]),
        BACK_TIMEOUT_MS / 1000,
        "Anna's client going back to B",
    )
    for person in (fay, anna):
        await person.page.wait_for_function(
            "() => { const s = window.groupsession.state();"
            " return s.connection === 'connected' && s.phase === 'in_room'; }",
            timeout=BACK_TIMEOUT_MS,
            polling=250,
        )
    # Anna was admitted before: she is back in the room, and media flows again.
    await wait_until_rises(anna.page, ids["Fay"], "video", "framesDecoded", 10)
    await wait_until_rises(fay.page, ids["Anna"], "video", "framesDecoded", 10)


def worker_listening_on(port: int) -> int:
    """The worker process whose own port is ``port`` (its --node-port argument)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--node-port" in argv and argv[argv.index(b"--node-port") + 1] == str(port).encode():
            return int(entry.name)
    raise AssertionError(f"no worker on port {port}")
