"""The two baselines of benchmarks/linkage.py: recordlinkage's ECM and Splink 5 on DuckDB.

Both get the same light, standard preparation (what a data analyst would do before either tool,
not Tafuta's normaliser): case and accents folded, punctuation dropped, the first given name,
full birth dates only, a birth year (from the date, or from age and the date it was estimated),
the last nine digits of a phone, Soundex codes for blocking. Both block on the same rules and
compare the same fields; each is then set up the way its documentation's examples do it.

Each returns scored pairs ``[(ref_a, ref_b, probability)]`` down to SCAN_FLOOR, so that the
runner can report both the tool's own default (0.5) and the best F1 over thresholds.
"""

from __future__ import annotations

import re
import unicodedata

import jellyfish
import pandas as pd

from node.canonical import sex_code

SCAN_FLOOR = 0.01
DEFAULT_PROBABILITY = 0.5
THREADS = 2  # the benchmark machine has 2 cores and is shared

_NOT_LETTERS = re.compile(r"[^a-z ]+")


def fold(value: str) -> str:
    value = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().lower()
    return " ".join(_NOT_LETTERS.sub("", value.replace("-", " ")).split())


def _birth_year(row) -> float | None:
    if row["birth_date"]:
        return int(row["birth_date"][:4])
    if row["age"] and row["age_on"]:
        return int(row["age_on"][:4]) - round(float(row["age"]))
    return None


def _tokens(value: str) -> list[str]:
    return fold(value).split() if value else []


def _first(tokens: list[str]) -> str | None:
    return tokens[0] if tokens else None


def _mph(value: str | None) -> str | None:
    return jellyfish.metaphone(value) if value else None


def prepare(path, fields: list[str]) -> pd.DataFrame:
    """Read a canonical CSV and derive the columns both baselines compare and block on."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    out = pd.DataFrame({"ref": raw["ref"]})
    given_tokens = raw["given_names"].map(_tokens)
    out["given"] = given_tokens.map(_first)
    out["given_tokens"] = given_tokens.map(lambda t: t or None)
    out["given_last"] = given_tokens.map(lambda t: t[-1] if t else None)
    out["given_full"] = given_tokens.map(lambda t: " ".join(t) or None)
    family_tokens = raw["family_name"].map(_tokens)
    out["family"] = family_tokens.map(lambda t: " ".join(t) or None)
    out["family_first"] = family_tokens.map(_first)
    out["family_last_mph"] = family_tokens.map(lambda t: _mph(t[-1]) if t else None)
    out["given_sdx"] = out["given"].map(lambda v: jellyfish.soundex(v) if v else None)
    out["family_sdx"] = out["family"].map(lambda v: jellyfish.soundex(v) if v else None)
    out["given_mph"] = out["given"].map(_mph)
    out["given_last_mph"] = out["given_last"].map(_mph)
    out["family_mph"] = out["family_first"].map(_mph)
    full = raw["birth_date"].where(raw["birth_date"].str.len() == 10, "")
    out["birth_date"] = full.replace("", None)
    out["birth_year"] = raw.apply(_birth_year, axis=1).astype("Int64")
    for column, source in (("place", "origin_place"), ("district", "origin_district")):
        out[column] = raw[source].map(fold).replace("", None)
    if "sex" in fields:
        out["sex"] = raw["sex"].map(lambda v: sex_code(v) if v else None)
    for column in ("mother_name", "father_name"):
        if column in fields:
            out[column] = raw[column].map(fold).replace("", None)
            out[column.split("_")[0] + "_given"] = raw[column].map(_tokens).map(_first)
    if "father_name" in fields:
        out["father_mph"] = out["father_given"].map(_mph)
    if "phone" in fields:
        digits = raw["phone"].str.replace(r"\D", "", regex=True).str[-9:]
        out["phone"] = digits.where(digits.str.len() == 9, None)
    return out


def blocking_columns(frame: pd.DataFrame) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """The blocking rules both baselines use: a union of (left columns = right columns).

    Same-sound names, birth year or date, and home place, in the combinations Splink's and
    recordlinkage's examples use, plus given and family name swapped (common in registers).
    """
    rules = [("given", "family"), ("birth_date",), ("family_sdx", "birth_year"),
             ("given_sdx", "birth_year"), ("given_sdx", "family_sdx"), ("family_sdx", "place"),
             ("given_sdx", "place")]  # fmt: skip
    if "phone" in frame:
        rules.append(("phone",))
    swapped = (("given_sdx", "family_sdx"), ("family_sdx", "given_sdx"))
    return [(rule, rule) for rule in rules] + [swapped]


# --- recordlinkage: blocking, thresholded string comparisons, ECM ------------------------------


def run_recordlinkage(a: pd.DataFrame, b: pd.DataFrame) -> list[tuple[str, str, float]]:
    """recordlinkage's documented ECM setup: union of blocks, binary comparisons, ECM."""
    import recordlinkage as rl

    a, b = a.set_index("ref"), b.set_index("ref")
    pairs = None
    for left, right in blocking_columns(a):
        indexer = rl.Index()
        indexer.block(left_on=list(left), right_on=list(right))
        found = indexer.index(a.dropna(subset=list(left)), b.dropna(subset=list(right)))
        pairs = found if pairs is None else pairs.union(found)
    compare = rl.Compare(n_jobs=THREADS)
    compare.string("given", "given", method="jarowinkler", threshold=0.85, label="given")
    compare.string("family", "family", method="jarowinkler", threshold=0.85, label="family")
    compare.exact("birth_date", "birth_date", label="birth_date")
    compare.exact("birth_year", "birth_year", label="birth_year")
    compare.string("place", "place", method="jarowinkler", threshold=0.85, label="place")
    compare.exact("district", "district", label="district")
    if "sex" in a:
        compare.exact("sex", "sex", label="sex")
        for column in ("mother_name", "father_name"):
            compare.string(column, column, method="jarowinkler", threshold=0.85, label=column)
        compare.exact("phone", "phone", label="phone")
    features = compare.compute(pairs, a, b)
    ecm = rl.ECMClassifier(binarize=None)
    ecm.fit(features)
    probability = ecm.prob(features)
    kept = probability[probability >= SCAN_FLOOR]
    return [(ra, rb, float(p)) for (ra, rb), p in kept.items()]


# --- Splink 5 on DuckDB: tuned (issue 11) -------------------------------------------------------

# Blocking: each rule pairs records equal on two things, so that no rule floods the comparison at
# 100k, and together they find nearly every true pair despite typos in one name (the other name
# and a place or birth year still block), swaps, dropped given names and the father's name.
SPLINK_BLOCKING = (
    "l.given_mph = r.given_mph and l.family_mph = r.family_mph",
    "l.given_mph = r.family_mph and l.family_mph = r.given_mph",
    "l.given_last_mph = r.family_last_mph and l.family_mph = r.given_mph",
    "l.family_last_mph = r.given_last_mph and l.given_mph = r.family_mph",
    "l.given_last_mph = r.given_last_mph and l.family_mph = r.family_mph",
    "l.given_mph = r.given_last_mph and l.family_mph = r.family_mph",
    "l.given_last_mph = r.given_mph and l.family_mph = r.family_mph",
    "l.family_mph = r.family_mph and l.place = r.place",
    "l.given_mph = r.given_mph and l.place = r.place",
    "l.given_last_mph = r.given_last_mph and l.place = r.place",
    "l.family_mph = r.family_mph and l.birth_year = r.birth_year",
    "l.given_mph = r.given_mph and l.birth_year = r.birth_year",
    "l.given_sdx = r.given_sdx and l.family_sdx = r.family_sdx",
    "l.family_sdx = r.family_sdx and l.birth_year = r.birth_year",
    "l.given_sdx = r.given_sdx and l.birth_year = r.birth_year",
    "l.family_sdx = r.family_sdx and l.place = r.place",
    "l.given_sdx = r.given_sdx and l.place = r.place",
    "l.birth_date = r.birth_date",
    "l.phone = r.phone",
)
SPLINK_FATHER_BLOCKING = (
    "l.father_mph = r.family_mph and l.given_mph = r.given_mph",
    "l.family_mph = r.father_mph and l.given_mph = r.given_mph",
    "l.father_mph = r.family_mph and l.given_last_mph = r.given_last_mph",
    "l.family_mph = r.father_mph and l.given_last_mph = r.given_last_mph",
)


def _any_similar(left: str, right: str, threshold: float) -> str:
    """SQL: some token of list ``left`` is Jaro-Winkler-similar to some token of ``right``."""
    return (
        f"list_bool_or(list_transform({left}, lambda x: list_bool_or(list_transform({right}, "
        f"lambda y: jaro_winkler_similarity(x, y) >= {threshold}))))"
    )


def splink_comparisons(frame: pd.DataFrame) -> list:
    """Given and family names with swapped, dropped-name and father's-name levels and term
    frequencies; all given names compared as one before the first given name alone (round 3:
    "Mary Wanjiku" = "Mary Wanjiku" is not "Mary" = "Mary"), and a one-edit level for short
    given names that Jaro-Winkler misses ("Ali"/"Aly"); birth date and year at 0/1/2/4/8 years
    (ages are estimates); Jaro-Winkler places with term frequencies; both parents as one
    comparison (_parents), phone (one digit off) and sex where the data has them."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    given = cl.CustomComparison(
        output_column_name="given",
        comparison_levels=[
            cll.NullLevel("given"),
            # "Mary Wanjiku" = "Mary Wanjiku" says far more than "Mary" = "Mary".
            cll.ExactMatchLevel("given_full", term_frequency_adjustments=True),
            cll.JaroWinklerLevel("given_full", 0.95),
            cll.ExactMatchLevel("given", term_frequency_adjustments=True),
            cll.CustomLevel("list_has_any(given_tokens_l, given_tokens_r)", "a given name equal"),
            cll.CustomLevel(
                "list_contains(string_split(family_r, ' '), given_l) "
                "or list_contains(string_split(family_l, ' '), given_r)",
                "swapped",
            ),
            cll.JaroWinklerLevel("given", 0.9),
            cll.DamerauLevenshteinLevel("given", 1),
            cll.CustomLevel(_any_similar("given_tokens_l", "given_tokens_r", 0.88), "JW any"),
            cll.ElseLevel(),
        ],
    )
    family_levels = [
        cll.NullLevel("family"),
        cll.ExactMatchLevel("family", term_frequency_adjustments=True),
        cll.CustomLevel(
            "list_contains(given_tokens_r, family_first_l) "
            "or list_contains(given_tokens_l, family_first_r)",
            "swapped",
        ),
    ]
    if "father_given" in frame:
        family_levels.append(
            cll.CustomLevel(
                "family_first_l = father_given_r or father_given_l = family_first_r",
                "father's name as family name",
            )
        )
    family_levels += [
        cll.JaroWinklerLevel("family", 0.92),
        cll.JaroWinklerLevel("family", 0.85),
        cll.ElseLevel(),
    ]
    family = cl.CustomComparison(output_column_name="family", comparison_levels=family_levels)
    birth = cl.CustomComparison(
        output_column_name="birth",
        comparison_levels=[
            cll.NullLevel("birth_year"),
            cll.ExactMatchLevel("birth_date"),
            cll.ExactMatchLevel("birth_year"),
            cll.AbsoluteDifferenceLevel("birth_year", 1),
            cll.AbsoluteDifferenceLevel("birth_year", 2),
            cll.AbsoluteDifferenceLevel("birth_year", 4),
            cll.AbsoluteDifferenceLevel("birth_year", 8),
            cll.ElseLevel(),
        ],
    )
    place = cl.CustomComparison(
        output_column_name="place",
        comparison_levels=[
            cll.NullLevel("place"),
            cll.ExactMatchLevel("place", term_frequency_adjustments=True),
            cll.JaroWinklerLevel("place", 0.9),
            cll.JaroWinklerLevel("place", 0.8),
            cll.ElseLevel(),
        ],
    )
    comparisons = [
        given,
        family,
        birth,
        place,
        cl.ExactMatch("district").configure(term_frequency_adjustments=True),
    ]
    if "mother_given" in frame:
        comparisons.append(_parents())
    if "phone" in frame:
        comparisons.append(
            cl.CustomComparison(
                output_column_name="phone",
                comparison_levels=[
                    cll.NullLevel("phone"),
                    cll.ExactMatchLevel("phone", term_frequency_adjustments=True),
                    cll.DamerauLevenshteinLevel("phone", 1),
                    cll.ElseLevel(),
                ],
            )
        )
    if "sex" in frame:
        comparisons.append(cl.ExactMatch("sex"))
    return comparisons


def _parents():
    """Mother's and father's given names as one comparison: siblings share both, so as two
    independent comparisons they would count the same household twice."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    def same(column: str) -> str:
        return f"{column}_l = {column}_r"

    def known(column: str) -> str:
        return f"{column}_l is not null and {column}_r is not null"

    def near(column: str) -> str:
        return f"jaro_winkler_similarity({column}_l, {column}_r) >= 0.88"

    mother, father = "mother_given", "father_given"
    return cl.CustomComparison(
        output_column_name="parents",
        comparison_levels=[
            cll.CustomLevel(f"not ({known(mother)}) and not ({known(father)})").configure(
                is_null_level=True
            ),
            cll.CustomLevel(f"{same(mother)} and {same(father)}", "both parents"),
            cll.CustomLevel(
                f"({same(mother)} and not ({known(father)})) "
                f"or ({same(father)} and not ({known(mother)}))",
                "one parent, the other unknown",
            ),
            cll.CustomLevel(f"{same(mother)} or {same(father)}", "one parent, the other differs"),
            cll.CustomLevel(f"{near(mother)} or {near(father)}", "a parent's name alike"),
            cll.ElseLevel(),
        ],
    )


def splink_blocking(frame: pd.DataFrame) -> list[str]:
    rules = [r for r in SPLINK_BLOCKING if "phone" not in r or "phone" in frame]
    if "father_mph" in frame:
        rules += SPLINK_FATHER_BLOCKING
    return rules


def run_splink(a: pd.DataFrame, b: pd.DataFrame) -> list[tuple[str, str, float]]:
    """Splink 5 on DuckDB, tuned: the comparisons and blocking above, trained by train_splink."""
    linker = build_splink(a, b)
    train_splink(linker, a)
    predictions = linker.inference.predict(threshold_match_probability=SCAN_FLOOR)
    frame = predictions.as_pandas_dataframe()
    left_is_a = frame["source_dataset_l"] == "side_a"
    ref_a = frame["ref_l"].where(left_is_a, frame["ref_r"])
    ref_b = frame["ref_r"].where(left_is_a, frame["ref_l"])
    return list(zip(ref_a, ref_b, frame["match_probability"].astype(float), strict=True))


def build_splink(a: pd.DataFrame, b: pd.DataFrame, retain: bool = False):
    """An untrained Splink linker of the two sides on DuckDB (``retain`` keeps the compared
    columns in the predictions, for diagnostics)."""
    import duckdb
    from splink import DuckDBAPI, Linker, SettingsCreator

    con = duckdb.connect()
    con.execute(f"SET threads TO {THREADS}")
    db_api = DuckDBAPI(connection=con)
    settings = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="ref",
        comparisons=splink_comparisons(a),
        blocking_rules_to_generate_predictions=splink_blocking(a),
        retain_matching_columns=retain,
    )
    return Linker(
        [db_api.register(a, table_name="side_a"), db_api.register(b, table_name="side_b")],
        settings,
        log_level="WARNING",
    )


def train_splink(linker, a: pd.DataFrame) -> None:
    """The match share from deterministic rules; u by random sampling; m by EM in sessions
    that each leave out what they block on."""
    from splink import block_on

    training = linker.training
    training.estimate_probability_two_random_records_match(
        ["l.given = r.given and l.family = r.family and l.birth_year = r.birth_year",
         "l.given = r.given and l.family = r.family and l.place = r.place"],
        recall=0.6,
    )  # fmt: skip
    training.estimate_u_using_random_sampling(max_pairs=1e7, seed=1)
    # Each session blocks on what nearly only the same person shares, so EM's "match" class is
    # the same person and not a same-name cluster (blocking on names alone trains birth year and
    # village as if namesakes were matches).
    sessions = [block_on("given_mph", "family_mph", "place")]
    if "mother_given" in a:
        sessions.append(block_on("given_mph", "family_mph", "mother_given"))
    else:  # FEBRL4: names with birth date, then birth date with place
        sessions += [block_on("given_mph", "family_mph", "birth_date"), block_on("birth_date")]
    if "phone" in a:
        sessions.append(block_on("phone", "sex"))  # also observes swapped names
    for blocking in sessions:
        training.estimate_parameters_using_expectation_maximisation(
            blocking, record_sample_proportion=1.0
        )
