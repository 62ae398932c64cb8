"""The private link on one machine against the same link on Spark, on the same files (issue 16.4).

    .venv/bin/python benchmarks/scale_engine.py write /tmp/ea-20k --people 20000
    .venv/bin/python benchmarks/scale_engine.py run /tmp/ea-20k --master 'local[2]'

``write`` makes a missing list (a.csv) and a found register (b.csv) of --people records each
from benchmarks/east_africa.py. ``run`` links them twice — node/linking.py in this process, and
node/scale/ on Spark at --master — checks that both give the same pairs (refs, scores,
evidence), and prints each stage's wall and CPU time (this process and every process it started:
Spark's JVM and Python workers, the local path's pool) with the sizes it handled, and the CPU
cost per unit that docs/scale.md's sizing table is worked from. CPU time, not wall time × cores,
because this machine's two cores are shared.
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


def tree_cpu() -> float:
    """CPU seconds of this process and all its descendants, live or finished (Spark's JVM and
    its Python workers, a process pool): on a busy shared machine the wall time says little,
    the CPU time is what a dedicated cluster's cores would spend."""
    tick = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parent[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = sum(int(x) for x in fields[11:15]) / tick  # u, s, cu, cs
    me = os.getpid()
    total = 0.0
    for pid, seconds in times.items():
        p = pid
        while p and p != me:
            p = parent.get(p, 0)
        if p == me:
            total += seconds
    return total


class Stages:
    """Wall and CPU seconds between named points."""

    def __init__(self) -> None:
        self.points: list[tuple[str, float, float]] = []

    def mark(self, name: str) -> None:
        self.points.append((name, time.perf_counter(), tree_cpu()))

    def spans(self) -> dict[str, tuple[float, float]]:
        return {
            name: (t1 - t0, c1 - c0)
            for (name, t0, c0), (_, t1, c1) in zip(self.points, self.points[1:], strict=False)
        }


def run(folder: Path, master: str) -> None:
    from matching import DEFAULT_THRESHOLD, load_lexicon
    from node.linking import private_link, read_records_leniently, record_keys
    from node.scale import link_on_engine
    from protocol import blinding

    a, _ = read_records_leniently(folder / "a.csv")
    b, _ = read_records_leniently(folder / "b.csv")
    lexicon = load_lexicon()
    load = os.getloadavg()[0]
    print(f"# Local vs Spark, {date.today().isoformat()}, {os.cpu_count()} cores on this machine")
    print(f"files: {folder}/a.csv ({len(a):,} records) × {folder}/b.csv ({len(b):,} records)")
    print(f"load average at the start: {load:.1f} (CPU seconds below count this run's processes)")

    # The X25519 cost on one core, in the same run.
    sample = [blinding.hash_to_point(1, "t", str(i)) for i in range(20_000)]
    scalar = blinding.new_scalar()
    before = time.process_time()
    blinding.blind_points(scalar, sample, workers=1)
    per_mult = (time.process_time() - before) / len(sample)

    local_stages = Stages()
    local_stages.mark("keys")
    keys_a = record_keys(a, lexicon)
    keys_b = record_keys(b, lexicon)
    local_stages.mark("blind+join+score")
    local = private_link(keys_a, keys_b, min_score=DEFAULT_THRESHOLD)
    local_stages.mark("end")
    local = [r for r in local if r.score >= DEFAULT_THRESHOLD]
    entries = sum(len(set(k)) for k in keys_a.values()) + sum(len(set(k)) for k in keys_b.values())
    distinct = len({k for ks in keys_a.values() for k in ks}) + len(
        {k for ks in keys_b.values() for k in ks}
    )
    del keys_a, keys_b
    spans = local_stages.spans()
    print("\nlocal (node/linking.py, all cores of this machine)      wall s    CPU s")
    for name, (wall, cpu) in spans.items():
        print(f"  {name:22} {wall:28.1f} {cpu:8.1f}")
    local_wall = sum(w for w, _ in spans.values())
    local_cpu = sum(c for _, c in spans.values())
    print(f"  {'total':22} {local_wall:28.1f} {local_cpu:8.1f}   {len(local):,} pairs")
    print(f"  X25519 multiplications: {2 * distinct:,}; one costs {per_mult * 1e6:.1f} µs CPU")
    print(f"  X25519 floor: {2 * distinct * per_mult:.1f} CPU s")

    timings: dict[str, float] = {}
    counts: dict[str, int] = {}
    stages = Stages()
    stages.mark("start")
    engine = link_on_engine(
        a, b, engine="spark", lexicon=lexicon, min_score=DEFAULT_THRESHOLD, master=master,
        timings=timings, counts=counts, stage=stages.mark,
    )  # fmt: skip
    stages.mark("end")
    spans = stages.spans()
    units = {
        "start": (len(a) + len(b), "records shipped (JVM start, scalars)"),
        "match keys": (counts["key_entries"], "key entries (record, key)"),
        "blinding": (counts["blindings"], "X25519 multiplications"),
        "candidate join": (counts["key_entries"], "key entries joined"),
        "stopping spark": (1, "stop"),
        "scoring": (counts["pairs"], "candidate pairs scored on the driver"),
    }
    print(f"\nspark (node/scale/, master {master})")
    print(f"  {'stage':15} {'wall s':>8} {'CPU s':>8} {'units':>12}  what      µs CPU per unit")
    for name, (wall, cpu) in spans.items():
        n, what = units[name]
        print(f"  {name:15} {wall:8.1f} {cpu:8.1f} {n:12,}  {what}: {cpu / max(n, 1) * 1e6:.1f}")
    spark_wall = sum(w for w, _ in spans.values())
    spark_cpu = sum(c for _, c in spans.values())
    print(f"  {'total':15} {spark_wall:8.1f} {spark_cpu:8.1f}   {len(engine):,} pairs")
    print(f"  pairs within A: {counts['pairs_within_a']:,}, within B: {counts['pairs_within_b']:,}")

    same = {(r.ref_a, r.ref_b, r.score, r.evidence) for r in local} == {
        (r.ref_a, r.ref_b, r.score, r.evidence) for r in engine
    }
    print(f"\nsame pairs, scores and evidence as the local path: {'yes' if same else 'NO'}")
    n_records = len(a) + len(b)
    print(f"per record: {entries / n_records:.1f} key entries, {distinct / n_records:.2f} distinct "
          f"keys, {counts['pairs'] / len(a):.1f} candidate pairs (per record of A)")  # fmt: skip
    print(f"CPU per record, all stages: local {local_cpu / n_records * 1e6:.0f} µs, "
          f"spark {spark_cpu / n_records * 1e6:.0f} µs")  # fmt: skip
    if not same:
        sys.exit(1)


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
    args = parser.parse_args()
    if args.command == "write":
        write(args.folder, args.people, args.seed)
    else:
        run(args.folder, args.master)


if __name__ == "__main__":
    main()
