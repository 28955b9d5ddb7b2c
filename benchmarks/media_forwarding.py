"""Forwarding benchmark: prints one JSON line (see server/media/bench.py)."""

from __future__ import annotations

import argparse
import json

from server.media.bench import run_benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--participants", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--baseline-participants", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(run_benchmark(args.participants, args.duration, args.baseline_participants)))


if __name__ == "__main__":
    main()
