"""Blinding throughput: X25519 blinding of match keys per second, one process vs all cores.

    .venv/bin/python benchmarks/blinding_speed.py            # 200,000 keys
    .venv/bin/python benchmarks/blinding_speed.py --keys 1000000

Counts distinct keys, each hashed to a point and blinded once (what blind_own_keys does after
removing duplicates); blinding a peer's keys again costs the same without the hash.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import date

from protocol import blinding


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=200_000)
    args = parser.parse_args()
    scalar = blinding.new_scalar()
    keys = [("pair_mph_yw", f"K{i}|e1004") for i in range(args.keys)]
    print(f"# Blinding speed, {date.today().isoformat()}, {os.cpu_count()} cores")
    for workers in sorted({1, os.cpu_count() or 1}):
        started = time.perf_counter()
        points = [blinding.hash_to_point(1, t, v) for t, v in keys]
        blinding.blind_points(scalar, points, workers=workers)
        elapsed = time.perf_counter() - started
        print(f"{workers} process(es): {args.keys / elapsed:,.0f} keys/s ({elapsed:.1f} s)")


if __name__ == "__main__":
    main()
