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


def prepare(path, fields: list[str]) -> pd.DataFrame:
    """Read a canonical CSV and derive the columns both baselines compare and block on."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    out = pd.DataFrame({"ref": raw["ref"]})
    given = raw["given_names"].map(fold)
    out["given"] = given.str.split(" ").str[0].replace("", None)
    out["family"] = raw["family_name"].map(fold).replace("", None)
    out["given_sdx"] = out["given"].map(lambda v: jellyfish.soundex(v) if v else None)
    out["family_sdx"] = out["family"].map(lambda v: jellyfish.soundex(v) if v else None)
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


# --- Splink 5 on DuckDB: blocking rules, comparisons, EM training, predict ---------------------


def run_splink(a: pd.DataFrame, b: pd.DataFrame) -> list[tuple[str, str, float]]:
    """Splink's documented link-only workflow on DuckDB (as in its FEBRL4 example)."""
    import duckdb
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    con = duckdb.connect()
    con.execute(f"SET threads TO {THREADS}")
    db_api = DuckDBAPI(connection=con)
    for frame in (a, b):
        frame["given_family"] = frame["given"].fillna("") + " " + frame["family"].fillna("")
    birth = cl.CustomComparison(
        output_column_name="birth",
        comparison_levels=[
            cll.NullLevel("birth_year"),
            cll.ExactMatchLevel("birth_date"),
            cll.ExactMatchLevel("birth_year"),
            cll.AbsoluteDifferenceLevel("birth_year", 1),
            cll.AbsoluteDifferenceLevel("birth_year", 3),
            cll.ElseLevel(),
        ],
    )
    comparisons = [
        cl.ForenameSurnameComparison(
            "given", "family", forename_surname_concat_col_name="given_family"
        ),
        birth,
        cl.JaroWinklerAtThresholds("place", [0.9, 0.8]).configure(term_frequency_adjustments=True),
        cl.ExactMatch("district").configure(term_frequency_adjustments=True),
    ]
    if "sex" in a:
        comparisons += [
            cl.ExactMatch("sex"),
            cl.NameComparison("mother_name"),
            cl.NameComparison("father_name"),
            cl.DamerauLevenshteinAtThresholds("phone", [1]).configure(
                term_frequency_adjustments=True
            ),
        ]
    rules = [
        " and ".join(f"l.{x} = r.{y}" for x, y in zip(left, right, strict=True))
        for left, right in blocking_columns(a)
    ]
    settings = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="ref",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=rules,
        retain_matching_columns=False,
    )
    linker = Linker(
        [db_api.register(a, table_name="side_a"), db_api.register(b, table_name="side_b")],
        settings,
        log_level="WARNING",
    )
    training = linker.training
    training.estimate_probability_two_random_records_match(
        [block_on("given", "family", "birth_year")], recall=0.7
    )
    training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
    training.estimate_parameters_using_expectation_maximisation(
        block_on("given", "family"), record_sample_proportion=1.0
    )
    training.estimate_parameters_using_expectation_maximisation(
        block_on("birth_year", "district"), record_sample_proportion=1.0
    )
    predictions = linker.inference.predict(threshold_match_probability=SCAN_FLOOR)
    frame = predictions.as_pandas_dataframe()
    left_is_a = frame["source_dataset_l"] == "side_a"
    ref_a = frame["ref_l"].where(left_is_a, frame["ref_r"])
    ref_b = frame["ref_r"].where(left_is_a, frame["ref_l"])
    return list(zip(ref_a, ref_b, frame["match_probability"].astype(float), strict=True))
