"""Soak benchmark of signaling: many join/leave and drop/return cycles against one
server process; its memory and open descriptors before and after.

A facilitator stays in the room throughout. Each join/leave cycle is a new connection
that joins with a new link and leaves; each drop/return cycle is one member whose
transport is closed without a goodbye (the room keeps their place) and who joins
again with the same link on a new connection. Loopback only, bounded.

    .venv/bin/python -m benchmarks.signaling_soak --joins 1000 --drops 200

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import socketio

from benchmarks.signaling_server import connected_client, join_token, serving
from rooms import Role


def _process_figures(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    return {"rss_kib": rss_kib, "open_fds": len(os.listdir(f"/proc/{pid}/fd"))}


async def _cycles(url: str, joins: int, drops: int) -> dict[str, Any]:
    fac = await connected_client(url)
    assert (await fac.call("join", {"token": join_token(url, Role.FACILITATOR, "Fac")}))["ok"]
    await fac.call("update_settings", {"auto_admit": True})
    errors = 0
    started = time.monotonic()
    for i in range(joins):
        client = await connected_client(url)
        reply = await client.call("join", {"token": join_token(url, Role.MEMBER, f"M{i}")})
        errors += not reply["ok"]
        errors += not (await client.call("leave", {}))["ok"]
        await client.disconnect()
    join_s = time.monotonic() - started
    token = join_token(url, Role.MEMBER, "Returning")
    started = time.monotonic()
    for _ in range(drops):
        client = await connected_client(url)
        gone = asyncio.Event()
        client.on("disconnect", gone.set)
        reply = await client.call("join", {"token": token})
        errors += not (reply["ok"] and reply["snapshot"]["you"]["state"] == "admitted")
        await client.eio.ws.close()  # the network goes: no goodbye
        await asyncio.wait_for(gone.wait(), 5)
    drop_s = time.monotonic() - started
    returning = await connected_client(url)
    errors += not (await returning.call("join", {"token": token}))["ok"]
    await returning.call("leave", {})
    await returning.disconnect()
    await fac.disconnect()
    return {"errors": errors, "join_leave_s": round(join_s, 2), "drop_return_s": round(drop_s, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joins", type=int, default=1000)
    parser.add_argument("--drops", type=int, default=200)
    args = parser.parse_args()
    joins, drops = min(max(args.joins, 1), 5000), min(max(args.drops, 1), 1000)
    # One address makes every join here: the per-address limit would refuse them.
    with serving({"GROUPSESSION_JOINS_PER_MINUTE": "0"}) as (url, server):

        async def warm_up() -> None:
            client: socketio.AsyncClient = await connected_client(url)
            await client.disconnect()

        asyncio.run(warm_up())
        before = _process_figures(server.pid)
        cycles = asyncio.run(_cycles(url, joins, drops))
        time.sleep(1.0)  # let the server close what the last cycles opened
        after = _process_figures(server.pid)
    print(
        json.dumps(
            {
                "join_leave_cycles": joins,
                "drop_return_cycles": drops,
                **cycles,
                "server_before": before,
                "server_after": after,
                "rss_growth_kib": after["rss_kib"] - before["rss_kib"],
                "fd_growth": after["open_fds"] - before["open_fds"],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
