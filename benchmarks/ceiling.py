"""Benchmark: how far can scoring go on what the keys carry? The private scorer's F1 beside the
F1 of a scorer that knows the answer for each field pattern, and what fields the keys do not
carry would add.

    .venv/bin/python benchmarks/ceiling.py                       # base:1 / base:2, both ways
    .venv/bin/python benchmarks/ceiling.py --pairs typo:1/base:2 --oracles none,sex

For an evaluation set and a *label* set (another seed or variant of benchmarks/east_africa.py):

* **model**: the private scorer as `tafuta link` runs it (in-process, raw keys, which score
  exactly as blinded ones);
* **label-optimal**: every candidate pair of the evaluation set gets, for its field pattern,
  the share of true pairs among the label set's pairs with that pattern (smoothed toward the
  model's probability by one pair's worth), then the same one-to-one step. No scorer that sees
  only these field levels can do much better: it is the ceiling of the information the keys
  give, for this generator. Counting on another seed keeps it honest (no pair's own label
  scores it);
* **+ oracle fields**: the same with fields computed from the plaintext that no key carries
  today — ``sex`` (agrees / differs, for every pair, not only where a key holds it), ``jw``
  (Jaro-Winkler of the two best-matching names, averaged, in five grades) and ``father``
  (father's first name sounds the same). What a key or a blinded comparison carrying them
  could add, at best.

F1 at DEFAULT_THRESHOLD and the best F1 over thresholds. A scoring idea that the label-optimal
column does not leave room for cannot pay; a gap the oracle columns do not close needs another
kind of comparison. Labels are used only to measure.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import jellyfish
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import generalisation

from matching import DEFAULT_THRESHOLD, KEY_TYPES, load_lexicon, normalise
from matching.assignment import one_to_one
from matching.candidates import MAX_BLOCK_PAIRS, candidate_arrays
from matching.same_person import same_person_groups
from matching.scoring import RARITY_TYPES, fit_patterns
from matching.shared import without_shared
from node.records.linking import record_keys

ORACLES = ("sex", "jw", "father")
SMOOTHING = 1.0  # pairs' worth of the model's probability in each pattern's share


class ScoredSet:
    """One set's candidate pairs: field patterns, the model's odds, labels, plaintext."""

    def __init__(self, spec: str, records: int):
        a, b, truth, _ = generalisation.dataset(spec, records)
        lexicon = load_lexicon()
        keys_a, keys_b = (without_shared(record_keys(s, lexicon, workers=1)) for s in (a, b))
        key_types = tuple(KEY_TYPES)
        c = candidate_arrays(
            keys_a, keys_b, key_types, max_block_pairs=MAX_BLOCK_PAIRS,
            rarity_types=[t for t in RARITY_TYPES if t in key_types],
        )  # fmt: skip
        self.candidates = c
        self.groups = (
            same_person_groups(keys_a, c.ids_left, key_types),
            same_person_groups(keys_b, c.ids_right, key_types),
        )
        fitted = fit_patterns(c, key_types)
        self.levels = fitted.unique[fitted.inverse]
        self.odds = fitted.pattern_odds[fitted.inverse]
        self.truth = truth
        self.true = np.array(
            [(c.ids_left[i], c.ids_right[j]) in truth for i, j in zip(c.left, c.right, strict=True)]
        )
        by_ref = {r["ref"]: normalise(r, lexicon) for r in (*a, *b)}
        self.left = [by_ref[c.ids_left[i]] for i in c.left]
        self.right = [by_ref[c.ids_right[j]] for j in c.right]

    def one_to_one(self, odds: np.ndarray) -> np.ndarray:
        c = self.candidates
        scores, _ = one_to_one(
            odds, c.left, c.right, len(c.ids_left), len(c.ids_right), *self.groups
        )
        return scores

    def patterns(self, oracles: tuple[str, ...]) -> list[tuple[int, ...]]:
        columns = [self.levels]
        for name in oracles:
            column = [ORACLE_LEVEL[name](x, y) for x, y in zip(self.left, self.right, strict=True)]
            columns.append(np.array(column)[:, None])
        return [tuple(row) for row in np.hstack(columns).tolist()]

    def f1(self, scores: np.ndarray) -> dict:
        n = len(self.truth)

        def at(threshold: float) -> float:
            above = scores >= threshold
            return float(2 * (above & self.true).sum() / (above.sum() + n))

        best = max(at(t) for t in np.arange(0.01, 1.0, 0.01))
        return {"f1": round(at(DEFAULT_THRESHOLD), 4), "best_f1": round(best, 4)}


def _sex(x, y) -> int:
    if not x.sex or not y.sex:
        return -1
    return int(x.sex == y.sex)


def _jw(x, y) -> int:
    if not x.names or not y.names:
        return -1
    short, long = sorted((x.names, y.names), key=len)
    best = sorted(
        (max(jellyfish.jaro_winkler_similarity(s, t) for t in long) for s in short), reverse=True
    )[:2]
    mean = sum(best) / len(best)
    return 4 if mean == 1 else 3 if mean >= 0.95 else 2 if mean >= 0.9 else 1 if mean >= 0.8 else 0


def _father(x, y) -> int:
    if not x.father or not y.father:
        return -1
    return int(jellyfish.metaphone(x.father[0]) == jellyfish.metaphone(y.father[0]))


ORACLE_LEVEL = {"sex": _sex, "jw": _jw, "father": _father}


def label_optimal(evaluated: ScoredSet, labels: ScoredSet, oracles: tuple[str, ...]) -> np.ndarray:
    """Each pair's pattern's share of true pairs in the label set, smoothed toward the model."""
    counted = labels.patterns(oracles)
    seen = Counter(counted)
    true = Counter(p for p, t in zip(counted, labels.true.tolist(), strict=True) if t)
    prior = 1 / (1 + np.exp(-evaluated.odds))
    share = np.array(
        [
            (true.get(p, 0) + SMOOTHING * p0) / (seen.get(p, 0) + SMOOTHING)
            for p, p0 in zip(evaluated.patterns(oracles), prior.tolist(), strict=True)
        ]
    )
    share = np.clip(share, 1e-6, 1 - 1e-6)
    return np.log(share / (1 - share))


def _variant_and_seed(spec: str) -> bool:
    name, _, seed = spec.partition(":")
    return name in generalisation.VARIANTS and seed.isdigit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pairs",
        default="base:1/base:2,base:2/base:1",
        help="EVALUATED/LABELS set pairs (generalisation.py's set names)",
    )
    parser.add_argument(
        "--oracles",
        default="none,sex,jw,sex+jw+father",
        help=f"combinations of {', '.join(ORACLES)} joined by '+', or none",
    )
    parser.add_argument("--records", type=int, default=10_000, help="per side")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()  # fmt: skip
    combos = [
        () if combo == "none" else tuple(combo.split("+")) for combo in args.oracles.split(",")
    ]
    for combo in combos:
        unknown = set(combo) - set(ORACLES)
        if unknown:
            parser.error(f"unknown oracle field(s) {', '.join(sorted(unknown))}")
    pairs = [pair.split("/") for pair in args.pairs.split(",")]
    for pair in pairs:
        known = all(spec == "febrl4" or _variant_and_seed(spec) for spec in pair)
        if len(pair) != 2 or not known:
            parser.error(f"--pairs takes EVALUATED/LABELS set pairs such as base:1/base:2, not "
                         f"{'/'.join(pair)!r}")  # fmt: skip
    sets: dict[str, ScoredSet] = {}
    results = []
    for evaluated_spec, labels_spec in pairs:
        for spec in (evaluated_spec, labels_spec):
            if spec not in sets:
                sets[spec] = ScoredSet(spec, args.records)
        evaluated, labels = sets[evaluated_spec], sets[labels_spec]
        row = {"evaluated": evaluated_spec, "labels": labels_spec,
               "model": evaluated.f1(evaluated.one_to_one(evaluated.odds))}  # fmt: skip
        for combo in combos:
            odds = label_optimal(evaluated, labels, combo)
            name = "label_optimal" + "".join(f"+{o}" for o in combo)
            row[name] = evaluated.f1(evaluated.one_to_one(odds))
        results.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
