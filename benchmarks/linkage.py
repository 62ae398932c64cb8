"""Benchmark: linkage quality, time and memory — Tafuta private, Tafuta plain, a tuned Splink 5
(DuckDB), optionally recordlinkage ECM, side by side on the same files and fields (issues 3, 11),
and ``tafuta dedup`` on the duplicates inside each list.

    .venv/bin/python benchmarks/linkage.py                             # FEBRL4 + East-African 10k
    .venv/bin/python benchmarks/linkage.py --datasets eastafrica-100k  # the 100k x 100k run
    .venv/bin/python benchmarks/linkage.py --methods recordlinkage-ecm,splink

It ends with one line per dataset (private F1 at DEFAULT_THRESHOLD, --plain F1, Splink's best
F1, dedup F1) and the targets of issue 11; it exits 1 when a target is missed, so that a
benchmark run can fail.

Each dataset is written once as two canonical CSV files; each method then runs in a fresh
subprocess that reads the files, links them and reports its wall time (reading included) and its
peak memory: ru_maxrss of the process plus that of its largest worker process (Tafuta's blinding
pool), so the figure is the method's own and an upper bound when workers ran. Quality is measured
on every scored pair down to probability 0.01: precision, recall and F1 at the method's default
threshold (Tafuta: matching.DEFAULT_THRESHOLD; the baselines: probability 0.5) and the best F1
over all thresholds. On the synthetic set, recall is also broken down by the kind of mess the
true pair's records got (matching/synthetic.py labels), to show which errors a method misses.

Results go to benchmarks/results/linkage-<datasets>.json and .md (date, machine, command).
Needs the `bench` extra: pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from linkage_data import DATASETS, read_truth, write_dataset

METHODS = ("tafuta-private", "tafuta-plain", "recordlinkage-ecm", "splink", "tafuta-dedup")
DEFAULT_METHODS = "tafuta-private,tafuta-plain,splink,tafuta-dedup"
DEDUP_TARGET = 0.9
RESULTS = Path(__file__).resolve().parent / "results"
SCAN_FLOOR = 0.01
CHILD_TIMEOUT = 3600
NO_ENGINE = 3  # a Tafuta method's exit code while node/records/linking.py does not exist yet


# --- the methods (each runs in its own process) ------------------------------------------------


# Points blinded to time one X25519 operation on all cores, in the same run as the link.
FLOOR_SAMPLE = 60_000


def x25519_per_second() -> float:
    """X25519 operations per second on all cores of this machine, now: what the private path's
    floor is counted in (the link's own blinding, the same pool and chunks)."""
    from protocol import blinding

    points = [blinding.hash_to_point(1, "floor", str(i)) for i in range(FLOOR_SAMPLE)]
    scalar = blinding.new_scalar()
    start = time.perf_counter()
    blinding.blind_points(scalar, points)
    return FLOOR_SAMPLE / (time.perf_counter() - start)


def link_tafuta(folder: Path, fields: list[str], plain: bool) -> tuple[list, float, int, int]:
    """The pairs, the default threshold, the X25519 operations the link made (0 for
    ``--plain``) and the records on both sides."""
    try:
        from matching import DEFAULT_THRESHOLD
        from node.records.linking import link_records, read_records_leniently
    except ImportError as error:  # the engine is built concurrently (issue 3)
        print(json.dumps({"error": f"the linkage engine is not there yet: {error}"}))
        sys.exit(NO_ENGINE)
    keep = {"ref", "kind", *fields}
    # As `tafuta link` reads them: a bad value (FEBRL4 has 1984-00-25) is set aside, not fatal.
    sides = [
        [{k: (v if k in keep else None) for k, v in r.items()} for r in records]
        for records in (read_records_leniently(folder / f)[0] for f in ("a.csv", "b.csv"))
    ]
    operations = [0]

    def count(done: int, total: int) -> None:  # total: X25519 operations of the whole link
        operations[0] = total

    results = link_records(*sides, threshold=SCAN_FLOOR, plain=plain, progress=count)
    scored = [(r.ref_a, r.ref_b, float(r.score)) for r in results]
    return scored, DEFAULT_THRESHOLD, operations[0], len(sides[0]) + len(sides[1])


def link_baseline(folder: Path, fields: list[str], method: str) -> tuple[list, float]:
    import baselines

    a = baselines.prepare(folder / "a.csv", fields)
    b = baselines.prepare(folder / "b.csv", fields)
    run = baselines.run_recordlinkage if method == "recordlinkage-ecm" else baselines.run_splink
    return run(a, b), baselines.DEFAULT_PROBABILITY


def dedup_tafuta(folder: Path, fields: list[str]) -> tuple[list, float]:
    """``tafuta dedup`` (records/linking.dedup_records) on each list, pairs with the smaller ref
    first, as the duplicates truth lists them."""
    from matching import DEDUP_THRESHOLD
    from node.records.linking import dedup_records, read_records_leniently

    keep = {"ref", "kind", *fields}
    scored = []
    for path in (folder / "a.csv", folder / "b.csv"):
        records = [{k: (v if k in keep else None) for k, v in r.items()}
                   for r in read_records_leniently(path)[0]]  # fmt: skip
        for r in dedup_records(records, threshold=SCAN_FLOOR):
            scored.append((*sorted((r.ref_a, r.ref_b)), float(r.score)))
    return scored, DEDUP_THRESHOLD


def child(method: str, folder: Path, fields: list[str]) -> None:
    start = time.perf_counter()
    if method == "tafuta-dedup":
        scored, default = dedup_tafuta(folder, fields)
        result = {"method": method, "seconds": time.perf_counter() - start,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "scored_pairs": len(scored), "default_threshold": default}  # fmt: skip
        result.update(evaluate(scored, read_truth(folder, "duplicates"), default))
        print(json.dumps(result))
        return
    operations = records = 0
    if method.startswith("tafuta"):
        plain = method == "tafuta-plain"
        scored, default, operations, records = link_tafuta(folder, fields, plain=plain)
    else:
        scored, default = link_baseline(folder, fields, method)
    seconds = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = {"method": method, "seconds": seconds, "peak_mb": (own + workers) / 1024,
              "scored_pairs": len(scored), "default_threshold": default}  # fmt: skip
    if operations:  # the private path: its cryptographic floor, measured now (issue 16)
        rate = x25519_per_second()
        result.update({"x25519_operations": operations, "x25519_per_second": rate,
                       "x25519_floor_seconds": operations / rate,
                       "floor_ratio": seconds / (operations / rate),
                       "x25519_per_record": operations / max(records, 1)})  # fmt: skip
    result.update(evaluate(scored, read_truth(folder), default))
    messiness_path = folder / "messiness.json"
    messiness = json.loads(messiness_path.read_text()) if messiness_path.exists() else {}
    if messiness:
        result["recall_by_mess"] = recall_by_mess(scored, read_truth(folder), default, messiness)
    hard_path = folder / "hard_negatives.json"
    if hard_path.exists():
        hard = json.loads(hard_path.read_text())
        result["false_positives"] = false_positives(scored, read_truth(folder), default, hard)
    print(json.dumps(result))


# --- measuring ---------------------------------------------------------------------------------


def evaluate(scored: list, truth: set, default: float) -> dict:
    """Precision, recall, F1 at the default threshold, and the best F1 over all thresholds."""
    best: dict[tuple[str, str], float] = {}
    for a, b, score in scored:
        if score > best.get((a, b), -1.0):
            best[(a, b)] = score
    ranked = sorted(best.items(), key=lambda item: -item[1])
    predicted = [pair for pair, score in ranked if score >= default]
    tp = sum(pair in truth for pair in predicted)
    at_default = prf(tp, len(predicted), len(truth))
    best_f1, best_threshold, tp, i = 0.0, None, 0, 0
    while i < len(ranked):  # pairs with equal scores go in together
        score = ranked[i][1]
        while i < len(ranked) and ranked[i][1] == score:
            tp += ranked[i][0] in truth
            i += 1
        f1 = 2 * tp / (i + len(truth))
        if f1 > best_f1:
            best_f1, best_threshold = f1, score
    return {**at_default, "best_f1": best_f1, "best_threshold": best_threshold,
            "recall_at_floor": sum(p in best for p in truth) / max(len(truth), 1)}  # fmt: skip


def prf(tp: int, predicted: int, true: int) -> dict:
    precision = tp / predicted if predicted else 0.0
    recall = tp / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def recall_by_mess(scored: list, truth: set, default: float, messiness: dict) -> dict:
    """For each kind of mess: how many true pairs got it, and the share found at the default."""
    found = {(a, b) for a, b, score in scored if score >= default}
    total, hit = Counter(), Counter()
    for pair in truth:
        for label in set(messiness[pair[0]]) | set(messiness[pair[1]]):
            total[label] += 1
            hit[label] += pair in found
    return {label: {"pairs": n, "recall": hit[label] / n} for label, n in total.most_common()}


def false_positives(scored: list, truth: set, default: float, hard: dict) -> dict:
    """Wrong pairs at the default threshold: with a namesake or sibling made to resemble the
    missing person, or with anyone else (common names, chance)."""
    kinds = Counter()
    for a, b, score in scored:
        if score >= default and (a, b) not in truth:
            kind, like = hard.get(b, (None, None))
            kinds[kind if like == a else "other"] += 1
    return dict(kinds)


def run_method(method: str, folder: Path, fields: list[str]) -> dict:
    command = [sys.executable, __file__, "--child", method, str(folder), ",".join(fields)]
    env = {**os.environ, "OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"}
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=CHILD_TIMEOUT, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return {"method": method, "error": f"did not finish in {CHILD_TIMEOUT} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode == NO_ENGINE or done.returncode != 0 or not lines:
        stderr = done.stderr.strip().splitlines()
        reason = lines[-1] if lines else stderr[-1] if stderr else f"exit code {done.returncode}"
        return {"method": method, "error": reason[:300]}
    return json.loads(lines[-1])


# --- reporting ---------------------------------------------------------------------------------


def machine() -> str:
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} cores, {ram:.0f} GiB RAM, {platform.machine()}, "
            f"Python {platform.python_version()}")  # fmt: skip


def markdown(report: dict) -> str:
    lines = [
        f"Run on {report['date']}, {report['machine']}:",
        "",
        "```sh",
        report["command"],
        "```",
        "",
        "| dataset | method | precision | recall | F1 (default threshold) | best F1 (at) "
        "| wall time (s) | peak memory (MB) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for data in report["datasets"]:
        for r in data["results"]:
            if "error" in r:
                lines.append(f"| {data['dataset']} | {r['method']} | – | – | – | – | – | – |")
                continue
            lines.append(
                f"| {data['dataset']} | {r['method']} | {r['precision']:.3f} | {r['recall']:.3f} "
                f"| {r['f1']:.3f} (≥ {r['default_threshold']:g}) "
                f"| {r['best_f1']:.3f} ({r['best_threshold']:.2f}) "
                f"| {r['seconds']:.1f} | {r['peak_mb']:.0f} |"
            )
    for data in report["datasets"]:
        for r in data["results"]:
            if "floor_ratio" in r:
                lines.append(
                    f"\n{data['dataset']}, {r['method']}: {r['x25519_operations']:,} X25519 "
                    f"operations ({r['x25519_per_record']:.0f} a record), "
                    f"{r['x25519_per_second']:,.0f} a second on all cores measured in this run: "
                    f"floor {r['x25519_floor_seconds']:.1f} s, wall time "
                    f"{r['floor_ratio']:.2f}x the floor"
                )
    errors = [(d["dataset"], r) for d in report["datasets"] for r in d["results"] if "error" in r]
    lines += [""] + [f"- {name}, {r['method']}: {r['error']}" for name, r in errors]
    lines += ["", "```", side_by_side(report), "```"]
    return "\n".join(lines).rstrip() + "\n"


def targets(report: dict) -> list[tuple[str, float, float, bool]]:
    """Issue 11's targets per dataset: (what, measured, bar, met). Private and --plain F1 at
    the default threshold against Splink's best F1 in the same run; dedup F1 against 0.9."""
    rows = []
    for data in report["datasets"]:
        by = {r["method"]: r for r in data["results"] if "error" not in r}
        name = data["dataset"]
        splink = by.get("splink", {}).get("best_f1")
        for method in ("tafuta-private", "tafuta-plain"):
            if method in by and splink is not None:
                f1 = by[method]["f1"]
                rows.append((f"{name}: {method} F1 ≥ Splink best", f1, splink, f1 >= splink))
        if "tafuta-dedup" in by and data.get("duplicate_pairs"):
            f1 = by["tafuta-dedup"]["f1"]
            rows.append((f"{name}: dedup F1 ≥ {DEDUP_TARGET}", f1, DEDUP_TARGET,
                         f1 >= DEDUP_TARGET))  # fmt: skip
        missing = [r["method"] for r in data["results"] if "error" in r]
        rows += [(f"{name}: {m} ran", 0.0, 0.0, False) for m in missing]
    return rows


def side_by_side(report: dict) -> str:
    """One line per dataset: private F1 at the default, --plain F1, Splink's best, dedup F1."""
    lines = []
    for data in report["datasets"]:
        by = {r["method"]: r for r in data["results"] if "error" not in r}

        def f1(method: str, key: str = "f1", by: dict = by) -> str:
            return f"{by[method][key]:.3f}" if method in by else "–"

        lines.append(
            f"{data['dataset']}: private F1 {f1('tafuta-private')} (default threshold) | "
            f"--plain F1 {f1('tafuta-plain')} | Splink best F1 {f1('splink', 'best_f1')} | "
            f"dedup F1 {f1('tafuta-dedup') if data.get('duplicate_pairs') else '–'}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="febrl4,eastafrica-10k",
                        help=f"comma-separated, of {', '.join(DATASETS)}")  # fmt: skip
    parser.add_argument("--methods", default=DEFAULT_METHODS, help=", ".join(METHODS))
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), args.child[2].split(","))
        return
    datasets, methods = args.datasets.split(","), args.methods.split(",")
    unknown = (set(datasets) - set(DATASETS)) | (set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown dataset or method: {', '.join(sorted(unknown))}")
    report = {
        "date": f"{datetime.now(UTC):%Y-%m-%d}",
        "machine": machine(),
        "command": shlex.join([".venv/bin/python", "benchmarks/linkage.py", *sys.argv[1:]]),
        "datasets": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name in datasets:
            folder = Path(tmp) / name
            summary = write_dataset(name, folder)
            summary["results"] = []
            for method in methods:
                if method == "tafuta-dedup" and not summary["duplicate_pairs"]:
                    continue  # FEBRL4 has no duplicates inside one list
                result = run_method(method, folder, summary["fields"])
                summary["results"].append(result)
                print(f"{name} {method}: {json.dumps(result)[:400]}", file=sys.stderr)
            report["datasets"].append(summary)
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"linkage-{'+'.join(datasets)}"
    report["targets"] = [
        {"target": what, "measured": got, "bar": bar, "met": met}
        for what, got, bar, met in targets(report)
    ]
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    stem.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    print(side_by_side(report))
    missed = [t for t in report["targets"] if not t["met"]]
    for t in report["targets"]:
        print(f"{'met   ' if t['met'] else 'MISSED'} {t['target']}: {t['measured']:.3f} "
              f"(bar {t['bar']:.3f})")  # fmt: skip
    if missed:
        sys.exit(1)


if __name__ == "__main__":
    main()
