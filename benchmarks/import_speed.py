"""Benchmark: importing a large register (issue 2's target: 100,000 rows < 20 s, < 500 MB).

Side by side in one run: Tafuta's import (validate every row, then one transaction) and, as the
baseline, the same rows loaded with sqlite-utils' `insert_all` (no validation, no change
detection), so the cost of checking is visible. Each runs in a fresh subprocess so peak memory
(ru_maxrss) is its own.

    .venv/bin/python benchmarks/import_speed.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

GIVEN = ["Mwanaisha", "Zawadi", "Mohamed", "Fatuma", "Amina", "Juma", "Grace", "Hassan", "Saidi"]
FAMILY = ["Mwakio", "Ali", "Ng'ombeni", "Kahindi", "Omar", "Bakari", "Njoroge", "Achieng'"]
PLACES = [
    ("Lunga Lunga", "Kwale"),
    ("Mariakani", "Kilifi"),
    ("Thika", "Kiambu"),
    ("Kisumu", "Kisumu"),
]


def write_register(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    header = ["ref", "kind", "given_names", "family_name", "sex", "birth_date", "origin_place",
              "origin_district", "origin_country", "mother_name", "phone", "notes"]  # fmt: skip
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for i in range(rows):
            place, district = rng.choice(PLACES)
            writer.writerow([
                f"KW-{i:07d}", rng.choice(["missing", "found"]),
                f"{rng.choice(GIVEN)} {rng.choice(GIVEN)}", rng.choice(FAMILY),
                rng.choice(["F", "M", "female", "mwanaume"]),
                f"{rng.randint(1990, 2015)}-{rng.randint(1, 12):02d}",
                place, district, "KE", f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}",
                f"07{rng.randint(10_000_000, 99_999_999)}",
                "seen at the bus stage" * rng.randint(0, 3),
            ])  # fmt: skip


def run_tafuta(csv_path: Path, workdir: Path) -> None:
    from node.home import create_home
    from node.records.importer import apply_import, plan_import
    from node.store.db import Store

    home = create_home(workdir / "node", name="bench")
    with Store.open(home.database_path) as store:
        apply_import(plan_import(csv_path, store), store)
        assert store.count_records() > 0


def run_baseline(csv_path: Path, workdir: Path) -> None:
    import sqlite_utils

    db = sqlite_utils.Database(workdir / "baseline.db")
    with csv_path.open(encoding="utf-8", newline="") as f:
        db["records"].insert_all(csv.DictReader(f), pk="ref", batch_size=1000)


def child(method: str, csv_path: Path, workdir: Path) -> None:
    start = time.perf_counter()
    {"tafuta": run_tafuta, "sqlite-utils insert_all": run_baseline}[method](csv_path, workdir)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"method": method, "seconds": seconds, "peak_mb": peak_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "register.csv"
        write_register(csv_path, args.rows)
        results = []
        for method in ("tafuta", "sqlite-utils insert_all"):
            workdir = Path(tempfile.mkdtemp(dir=tmp))
            out = subprocess.run(
                [sys.executable, __file__, "--child", method, str(csv_path), str(workdir)],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    machine = f"{os.cpu_count()} cores, {platform.machine()}, python {platform.python_version()}"
    print(f"# import of {args.rows:,} rows, {datetime.now(UTC):%Y-%m-%d}, {machine}")
    print("| method | wall time (s) | peak memory (MB) |")
    print("| --- | ---: | ---: |")
    for r in results:
        print(f"| {r['method']} | {r['seconds']:.1f} | {r['peak_mb']:.0f} |")


if __name__ == "__main__":
    main()
