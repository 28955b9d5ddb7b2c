"""Flood benchmark: one abusive client at full speed while a well-behaved room runs.

The server runs in its own process (``groupsession serve``, signaling only is not
needed: media is simply not used), the flooder in another, and the measuring client
here. The measuring member raises and lowers a hand, one command at a time, and
records each acknowledgement's latency. Three runs: no flood, a flood against the
default limits, and a flood with the message limit off (to show what it buys).

    .venv/bin/python -m benchmarks.signaling_flood --duration 10

Prints one JSON object; the goal is the flooded p99 at most 50 ms. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import time
from typing import Any

from benchmarks.signaling_server import connected_client, join_token, serving
from rooms import Role

IN_FLIGHT = 64  # the flooder's outstanding messages


def _flood(url: str, token: str, seconds: float, counts: Any) -> None:
    """In its own process: send as fast as the server answers, IN_FLIGHT at a time."""

    async def run() -> None:
        client = await connected_client(url)
        assert (await client.call("join", {"token": token}, timeout=10))["ok"]
        stop = time.monotonic() + seconds

        async def worker(i: int) -> None:
            while time.monotonic() < stop:
                reply = await client.call("raise_hand" if i % 2 else "lower_hand", {}, timeout=30)
                refused = None if reply["ok"] else reply["error"]["code"]
                counts[0 if refused is None else 1 if refused == "rate_limited" else 2] += 1

        await asyncio.gather(*(worker(i) for i in range(IN_FLIGHT)))
        await client.disconnect()

    asyncio.run(run())


async def _measure(url: str, seconds: float) -> list[float]:
    fac = await connected_client(url)
    assert (await fac.call("join", {"token": join_token(url, Role.FACILITATOR, "Fac")}))["ok"]
    await fac.call("update_settings", {"auto_admit": True})
    member = await connected_client(url)
    assert (await member.call("join", {"token": join_token(url, Role.MEMBER, "Calm")}))["ok"]
    latencies: list[float] = []
    stop = time.monotonic() + seconds
    i = 0
    while time.monotonic() < stop:
        started = time.perf_counter()
        reply = await member.call("raise_hand" if i % 2 == 0 else "lower_hand", {}, timeout=30)
        latencies.append((time.perf_counter() - started) * 1000)
        assert reply["ok"], reply
        i += 1
        await asyncio.sleep(0.1)  # 10 a second: far busier than a person, under the limit
    await member.disconnect()
    await fac.disconnect()
    return latencies


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _run(seconds: float, flood: bool, rate_limit: int | None) -> dict[str, Any]:
    settings = {} if rate_limit is None else {"GROUPSESSION_RATE_LIMIT": str(rate_limit)}
    with serving(settings) as (url, _server):
        counts = multiprocessing.get_context("spawn").Array("l", [0, 0, 0])
        flooder = None
        if flood:
            flooder = multiprocessing.get_context("spawn").Process(
                target=_flood,
                # A co-facilitator's link: admitted at once, so its commands really run.
                args=(url, join_token(url, Role.COFACILITATOR, "Flood"), seconds + 2, counts),
            )
            flooder.start()
            time.sleep(1.0)  # the flood is running before measuring starts
        latencies = asyncio.run(_measure(url, seconds))
        if flooder is not None:
            flooder.join(timeout=seconds + 30)
    return {
        "acks": len(latencies),
        "ack_ms_p50": round(statistics.median(latencies), 2),
        "ack_ms_p99": round(_percentile(latencies, 0.99), 2),
        "ack_ms_max": round(max(latencies), 2),
        "flood_answered_ok": counts[0],
        "flood_rate_limited": counts[1],
        "flood_refused_otherwise": counts[2],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    args = parser.parse_args()
    seconds = min(max(args.duration, 2.0), 120.0)
    results = {
        "duration_s": seconds,
        "no_flood": _run(seconds, flood=False, rate_limit=None),
        "flood_default_limits": _run(seconds, flood=True, rate_limit=None),
        "flood_no_message_limit": _run(seconds, flood=True, rate_limit=0),
        "goal_flooded_p99_ms": 50,
    }
    results["goal_met"] = results["flood_default_limits"]["ack_ms_p99"] <= 50
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
