"""The private link on one machine against the same link on Spark, on the same files (issue 16.4).

    .venv/bin/python benchmarks/scale_engine.py write /tmp/ea-20k --people 20000
    .venv/bin/python benchmarks/scale_engine.py run /tmp/ea-20k --master 'local[2]'

``write`` makes a missing list (a.csv) and a found register (b.csv) of --people records each
from benchmarks/east_africa.py. ``run`` links them twice — records/linking.py in this process, and
node/scale/ on Spark at --master — checks that both give the same pairs (refs, scores,
evidence), and prints each stage's wall and CPU time (this process and every process it started:
Spark's JVM and Python workers, the local path's pool) with the sizes it handled, and the CPU
cost per unit that docs/scale.md's sizing table is worked from. CPU time, not wall time × cores,
because this machine's two cores are shared.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import threading
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


class TreeCpu:
    """CPU seconds of this process and every process it started (Spark's JVM and its Python
    workers, a process pool), live or finished: a thread samples /proc every 0.2 s and keeps
    each process's last user + system time. On a busy shared machine the wall time says
    little; the CPU time is what a dedicated cluster's cores would spend."""

    def __init__(self) -> None:
        self.seen: dict[int, float] = {}
        self.tick = os.sysconf("SC_CLK_TCK")
        self.lock = threading.Lock()
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            self.sample()
            time.sleep(0.2)

    def sample(self) -> float:
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
            times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / self.tick
        me = os.getpid()
        with self.lock:
            for pid, seconds in times.items():
                p = pid
                while p and p != me and p not in self.seen:
                    p = parent.get(p, 0)
                if p == me or p in self.seen:
                    self.seen[pid] = max(seconds, self.seen.get(pid, 0.0))
            return sum(self.seen.values())


CPU = TreeCpu()


def tree_cpu() -> float:
    return CPU.sample()


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


def run(folder: Path, master: str, json_out: Path | None = None) -> None:
    from matching import DEFAULT_THRESHOLD, load_lexicon
    from node.records.linking import private_link, read_records_leniently, record_keys
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
    print("\nlocal (node/records/linking.py, all cores of this machine)      wall s    CPU s")
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
    measured = {
        "records": n_records,
        "entries_per_record": entries / n_records,
        "distinct_per_record": distinct / n_records,
        "pairs_per_record": counts["pairs"] / len(a),
        "cpu_us": {
            "keys_per_entry": spans["match keys"][1] / counts["key_entries"] * 1e6,
            "blind_per_mult": spans["blinding"][1] / counts["blindings"] * 1e6,
            "join_per_entry": spans["candidate join"][1] / counts["key_entries"] * 1e6,
            "score_per_pair": spans["scoring"][1] / max(counts["pairs"], 1) * 1e6,
            "x25519_one_core": per_mult * 1e6,
        },
    }
    if json_out:
        json_out.write_text(json.dumps(measured, indent=1) + "\n", encoding="utf-8")
    print()
    size(measured)
    if not same:
        sys.exit(1)


# Driver memory: a record read and checked (measured with tracemalloc on the East-African
# files: 1.4 KB as dicts, 0.6 KB more as JSON while shipped), and per candidate pair the arrays
# the scorer holds at once (agree int8 × ~40 types, pair indices, levels, odds, scores).
DRIVER_BYTES_PER_RECORD = 2_000
DRIVER_BYTES_PER_PAIR = 200


def size(measured: dict, records=(10_000_000, 50_000_000), cores=(64, 256)) -> None:
    """The sizing table of docs/scale.md: N records a side linked against N, from the per-unit
    CPU costs measured here. Key entries, distinct keys and pairs are taken per record as
    measured (distinct keys per record fall as registers grow, so the blinding row is an upper
    bound; pairs per record rise with namesakes, up to the MAX_BLOCK_PAIRS cap)."""
    cost = measured["cpu_us"]
    print("sizing (N × N records; CPU hours on the cluster, wall hours on C cores, driver)")
    print(f"  {'N a side':>12} {'X25519':>9} {'keys h':>7} {'blind h':>8} {'join h':>7} "
          f"{'total h':>8} " + " ".join(f"{f'wall@{c}':>8}" for c in cores)
          + f" {'pairs':>8} {'score h':>8} {'driver GB':>10}")  # fmt: skip
    for n in records:
        entries = 2 * n * measured["entries_per_record"]
        mults = 2 * 2 * n * measured["distinct_per_record"]
        pairs = n * measured["pairs_per_record"]
        keys_h = entries * cost["keys_per_entry"] / 3.6e9
        blind_h = mults * cost["blind_per_mult"] / 3.6e9
        join_h = entries * cost["join_per_entry"] / 3.6e9
        total = keys_h + blind_h + join_h
        score_h = pairs * cost["score_per_pair"] / 3.6e9
        driver = (2 * n * DRIVER_BYTES_PER_RECORD + pairs * DRIVER_BYTES_PER_PAIR) / 1e9
        walls = " ".join(f"{total / c + score_h:8.2f}" for c in cores)
        print(f"  {n:12,} {mults / 1e9:8.1f}G {keys_h:7.1f} {blind_h:8.1f} {join_h:7.1f} "
              f"{total:8.1f} {walls} {pairs / 1e6:7.0f}M {score_h:8.2f} "
              f"{driver:10.0f}")  # fmt: skip


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
    r.add_argument("--json", type=Path, help="also write the measured per-unit costs here")
    z = commands.add_parser("size", help="the sizing table from a run's --json")
    z.add_argument("measured", type=Path)
    args = parser.parse_args()
    if args.command == "write":
        write(args.folder, args.people, args.seed)
    elif args.command == "run":
        run(args.folder, args.master, args.json)
    elif args.command == "size":
        size(json.loads(args.measured.read_text(encoding="utf-8")))


if __name__ == "__main__":
    main()
