"""Benchmark: does a scoring change generalise? Tafuta private, `--plain` and dedup F1 on several
seeds and variants of the East-African generator (benchmarks/east_africa.py) and on FEBRL4.

    .venv/bin/python benchmarks/generalisation.py                          # every set, private
    .venv/bin/python benchmarks/generalisation.py --paths private,dedup --sets base:1,typo:1

Tuning to one generator shows on the founders' own registers; this is the cheap check before
that. In-process and on raw (unblinded) keys, which score exactly as doubly blinded ones (the
scorer sees only key types, counts and equality), so a set takes seconds, not minutes; no
Splink here (benchmarks/linkage.py runs it side by side). F1 at DEFAULT_THRESHOLD (dedup:
DEDUP_THRESHOLD), best F1 over all thresholds.

Variants change the error rates of docs/benchmarks.md's table (found registers unless said):

* ``base``: the rates as written; ``typo``: typos twice as often on both sides (found 10 %,
  missing 8 %) and 20 % of found villages misspelt; ``sparse``: 10 % sparse found records,
  districts 60 %, villages 70 %, phones 25 %, parents 25 %; ``ages``: estimated ages further
  off (0/1/2/3/4 years: 35/30/18/11/6 %) and more heaped (35 %).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import east_africa
import linkage_data

VARIANTS: dict[str, dict] = {
    "base": {},
    "typo": {"FOUND": {"typo": 0.10, "village_typo": 0.2}, "MISSING": {"typo": 0.08}},
    "sparse": {"FOUND": {"sparse": 0.10, "district": 0.6, "village": 0.7, "phone": 0.25,
                         "mother": 0.25, "father": 0.25}},
    "ages": {"AGE_OFF": ((0, 0.35), (1, 0.3), (2, 0.18), (3, 0.11), (4, 0.06)),
             "AGE_HEAPED": 0.35},
}  # fmt: skip
DEFAULT_SETS = "base:1,base:2,base:3,typo:1,sparse:1,ages:1,febrl4"


def dataset(spec: str, n: int) -> tuple[list[dict], list[dict], set, set]:
    """Both sides, the true pairs and the duplicates inside the lists."""
    if spec == "febrl4":
        a, b, truth, *_ = linkage_data.febrl4()
        keep = {"ref", "kind", *linkage_data.FEBRL4_FIELDS}
        a, b = ([{k: (v if k in keep else None) for k, v in r.items()} for r in s] for s in (a, b))
        return a, b, truth, set()
    name, seed = spec.split(":")
    saved = {}
    for key, value in VARIANTS[name].items():
        saved[key] = getattr(east_africa, key)
        new = dataclasses.replace(saved[key], **value) if isinstance(value, dict) else value
        setattr(east_africa, key, new)
    try:
        data = east_africa.generate(n, n, seed=int(seed))
    finally:
        for key, value in saved.items():
            setattr(east_africa, key, value)
    a, b = ([{k: v for k, v in r.items() if k != "notes"} for r in s]
            for s in (data.missing, data.found))  # fmt: skip
    return a, b, data.true_pairs, data.duplicates


def quality(scored: list[tuple[str, str, float]], truth: set, threshold: float) -> dict:
    above = [(a, b) for a, b, s in scored if s >= threshold]
    tp = sum(pair in truth for pair in above)
    f1 = 2 * tp / (len(above) + len(truth)) if truth else 0.0
    best, at, tp = 0.0, 1.0, 0
    for i, (a, b, s) in enumerate(sorted(scored, key=lambda x: -x[2])):
        tp += (a, b) in truth
        if 2 * tp / (i + 1 + len(truth)) > best:
            best, at = 2 * tp / (i + 1 + len(truth)), s
    return {"f1": round(f1, 4), "best_f1": round(best, 4), "at": round(at, 4)}


def run(path: str, a: list[dict], b: list[dict], truth: set, duplicates: set) -> dict:
    from matching import DEDUP_THRESHOLD, DEFAULT_THRESHOLD, load_lexicon
    from matching.scoring import score_key_candidates
    from node.records.linking import dedup_records, link_records, record_keys

    if path == "private":
        lexicon = load_lexicon()
        keys_a, keys_b = (record_keys(s, lexicon, workers=1) for s in (a, b))
        found = score_key_candidates(keys_a, keys_b, min_score=0.01)
        return quality([(r.ref_a, r.ref_b, r.score) for r in found], truth, DEFAULT_THRESHOLD)
    if path == "plain":
        found = link_records(a, b, threshold=0.01, plain=True)
        return quality([(r.ref_a, r.ref_b, r.score) for r in found], truth, DEFAULT_THRESHOLD)
    if not duplicates:
        return {}
    scored = [(*sorted((r.ref_a, r.ref_b)), r.score)
              for side in (a, b) for r in dedup_records(side, threshold=0.01)]  # fmt: skip
    return quality(scored, duplicates, DEDUP_THRESHOLD)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=DEFAULT_SETS)
    parser.add_argument("--paths", default="private", help="private, plain, dedup")
    parser.add_argument("--records", type=int, default=10_000, help="per side")
    args = parser.parse_args()
    for spec in args.sets.split(","):
        a, b, truth, duplicates = dataset(spec, args.records)
        for path in args.paths.split(","):
            start = time.perf_counter()
            result = run(path, a, b, truth, duplicates)
            if result:
                seconds = round(time.perf_counter() - start, 1)
                print(f"{spec:10} {path:8} {result} {seconds} s", flush=True)


if __name__ == "__main__":
    main()
