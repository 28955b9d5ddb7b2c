"""What checking a join link against Redis-kept revocations costs: prints one JSON line.

Every ``join`` asks whether its link was revoked (server.redis_revocations): a link
this node knows as revoked is answered from memory, any other costs one PTTL round
trip to Redis. This times both, and a revocation's write, ``--checks`` times each,
against the Redis at ``--redis-url`` (keys under the prefix ``bench``, each expiring
within a minute). Run from the repository root with a Redis running:
``.venv/bin/python -m benchmarks.revocation_check --redis-url redis://127.0.0.1:6379/0``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable

from server.redis_keys import RedisKeys
from server.redis_revocations import RedisRevokedLinks
from server.redis_store import RedisRoomRecords

LINK_LEFT_S = 60.0


async def timed(step: Callable[[int], Awaitable[object]], count: int) -> dict[str, float]:
    took_ms: list[float] = []
    for i in range(count):
        started = time.perf_counter()
        await step(i)
        took_ms.append((time.perf_counter() - started) * 1000)
    took_ms.sort()
    return {
        "p50_ms": round(statistics.median(took_ms), 4),
        "p99_ms": round(took_ms[min(len(took_ms) - 1, int(len(took_ms) * 0.99))], 4),
        "max_ms": round(took_ms[-1], 4),
    }


async def run(redis_url: str, checks: int) -> dict[str, object]:
    records = RedisRoomRecords(redis_url, retention_s=60, keys=RedisKeys("bench"))
    links = RedisRevokedLinks(records)
    expires_at = time.time() + LINK_LEFT_S
    try:
        await records.ping()  # the pool's first connection is not what a join pays
        revoke = await timed(lambda i: links.revoke(f"revoked-{i}", expires_at), checks)
        known = await timed(lambda i: links.is_revoked(f"revoked-{i}"), checks)
        unknown = await timed(lambda i: links.is_revoked(f"valid-{i}"), checks)
        # Revoked on another node: read from Redis, then remembered here.
        other = RedisRevokedLinks(records)
        first_read = await timed(lambda i: other.is_revoked(f"revoked-{i}"), checks)
    finally:
        await records.close()
    return {
        "benchmark": "revocation_check",
        "checks": checks,
        "revoke": revoke,
        "known_revoked": known,
        "not_revoked": unknown,
        "revoked_elsewhere_first_read": first_read,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--checks", type=int, default=2000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.redis_url, args.checks))))


if __name__ == "__main__":
    main()
