"""The private link on one machine against the same link on Spark, on the same files (issue 16.4).

    .venv/bin/python benchmarks/scale_engine.py write /tmp/ea-20k --people 20000
    .venv/bin/python benchmarks/scale_engine.py run /tmp/ea-20k --master 'local[2]'

``write`` makes a missing list (a.csv) and a found register (b.csv) of --people records each
from benchmarks/east_africa.py. ``run`` links them twice — node/linking.py in this process, and
node/scale/ on Spark at --master — checks that both give the same pairs (refs, scores,
evidence), and prints each stage's time with the sizes it handled, and the per-unit costs in
core-seconds (wall time × cores) that docs/scale.md's sizing table is worked from.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # east_africa, beside this script


def write(folder: Path, people: int, seed: int) -> None:
    from east_africa import generate

    from node.canonical import FIELDS as COLUMNS

    data = generate(people, people, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    for records, name in ((data.missing, "a.csv"), (data.found, "b.csv")):
        with (folder / name).open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(records)
    print(f"wrote {folder}/a.csv ({len(data.missing)} records), b.csv ({len(data.found)})")


def run(folder: Path, master: str, cores: int) -> None:
    from matching import DEFAULT_THRESHOLD, load_lexicon
    from node.linking import private_link, read_records_leniently, record_keys
    from node.scale import link_on_engine
    from protocol import blinding

    a, _ = read_records_leniently(folder / "a.csv")
    b, _ = read_records_leniently(folder / "b.csv")
    lexicon = load_lexicon()
    print(f"# Local vs Spark, {date.today().isoformat()}, {os.cpu_count()} cores on this machine")
    print(f"files: {folder}/a.csv ({len(a):,} records) × {folder}/b.csv ({len(b):,} records)\n")

    started = time.perf_counter()
    keys_a = record_keys(a, lexicon)
    keys_b = record_keys(b, lexicon)
    t_keys = time.perf_counter() - started
    started = time.perf_counter()
    local = private_link(keys_a, keys_b, min_score=DEFAULT_THRESHOLD)
    t_private = time.perf_counter() - started
    local = [r for r in local if r.score >= DEFAULT_THRESHOLD]
    entries = sum(len(set(k)) for k in keys_a.values()) + sum(len(set(k)) for k in keys_b.values())
    distinct = len({k for ks in keys_a.values() for k in ks}) + len(
        {k for ks in keys_b.values() for k in ks}
    )
    # The X25519 floor in the same run: one core, then the mults the link needed on all cores.
    sample = [blinding.hash_to_point(1, "t", str(i)) for i in range(20_000)]
    scalar = blinding.new_scalar()
    started = time.perf_counter()
    blinding.blind_points(scalar, sample, workers=1)
    per_mult = (time.perf_counter() - started) / len(sample)
    local_total = t_keys + t_private
    print("local (node/linking.py, all cores of this machine)")
    print(f"  keys      {t_keys:8.1f} s   {len(a) + len(b):,} records")
    print(f"  blind+join+score {t_private:8.1f} s   {2 * distinct:,} X25519 multiplications")
    print(f"  total     {local_total:8.1f} s   {len(local):,} pairs ≥ {DEFAULT_THRESHOLD}")
    print(f"  X25519 on one core: {per_mult * 1e6:.1f} µs per multiplication\n")

    timings: dict[str, float] = {}
    counts: dict[str, int] = {}
    started = time.perf_counter()
    engine = link_on_engine(
        a, b, engine="spark", lexicon=lexicon, min_score=DEFAULT_THRESHOLD, master=master,
        timings=timings, counts=counts,
    )  # fmt: skip
    spark_total = time.perf_counter() - started
    print(f"spark (node/scale/, master {master}, {cores} cores)")
    rows = (
        ("start", "session, scalars, records shipped", len(a) + len(b)),
        ("keys", "key entries (record, key)", counts["key_entries"]),
        ("blind", "X25519 multiplications", counts["blindings"]),
        ("join", "key entries joined", counts["key_entries"]),
        ("score", "candidate pairs scored (driver)", counts["pairs"]),
    )
    for stage, what, n in rows:
        print(f"  {stage:6} {timings[stage]:8.1f} s   {n:>12,} {what}")
    print(f"  total  {spark_total:8.1f} s   {len(engine):,} pairs ≥ {DEFAULT_THRESHOLD}")
    print(f"  pairs within A: {counts['pairs_within_a']:,}, within B: {counts['pairs_within_b']:,}")

    same = {(r.ref_a, r.ref_b, r.score, r.evidence) for r in local} == {
        (r.ref_a, r.ref_b, r.score, r.evidence) for r in engine
    }
    print(f"\nsame pairs, scores and evidence as the local path: {'yes' if same else 'NO'}")
    print("\nper-unit costs (core-seconds = wall × cores; driver stages × 1 core)")
    n_records = len(a) + len(b)
    print(f"  key entries per record: {entries / n_records:.1f}; distinct keys: {distinct:,} "
          f"({distinct / entries:.0%} of entries)")  # fmt: skip
    print(f"  candidate pairs per record of A: {counts['pairs'] / len(a):.1f}")
    print(f"  keys:  {timings['keys'] * cores / n_records * 1e6:9.1f} µs per record")
    print(
        f"  blind: {timings['blind'] * cores / counts['blindings'] * 1e6:9.1f} µs per X25519 mult"
    )
    print(f"  join:  {timings['join'] * cores / counts['key_entries'] * 1e6:9.1f} µs per key entry")
    print(f"  score: {timings['score'] / max(counts['pairs'], 1) * 1e6:9.1f} µs per pair (driver)")
    print(f"  local, for comparison: {local_total * (os.cpu_count() or 1) / n_records * 1e6:.0f} "
          "µs per record, all stages")  # fmt: skip
    if not same:
        sys.exit(1)


def _cores_of(master: str) -> int:
    inside = master.removeprefix("local").strip("[]")
    return int(inside) if inside.isdigit() else os.cpu_count() or 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    w = commands.add_parser("write", help="write a.csv and b.csv from benchmarks/east_africa.py")
    w.add_argument("folder", type=Path)
    w.add_argument("--people", type=int, default=2_000)
    w.add_argument("--seed", type=int, default=1)
    r = commands.add_parser("run", help="link the folder's a.csv and b.csv locally and on Spark")
    r.add_argument("folder", type=Path)
    r.add_argument("--master", default="local[2]")
    r.add_argument("--cores", type=int, help="cores of the master (default: N of local[N])")
    args = parser.parse_args()
    if args.command == "write":
        write(args.folder, args.people, args.seed)
    else:
        cores = args.cores or _cores_of(args.master)
        run(args.folder, args.master, cores)


if __name__ == "__main__":
    main()
