"""The private link as a Spark job: keys, blinding and the candidate join on the cluster.

Stages (each a DataFrame; Python work runs in ``mapInArrow`` batches on the executors)::

    records (side, idx, record as JSON)
      -> keys      (side, idx, type, value)        normalise + match_keys, distinct per record
      -> tokens    (side, type, value, token)      each side's distinct keys blinded twice:
                                                   X25519(b, X25519(a, H(k))) for A's keys,
                                                   X25519(a, X25519(b, H(k))) for B's — as the
                                                   local path, 2 multiplications per distinct key
      -> entries   (side, idx, t, token)           t: the key type's column for the scorer
      -> per key   n_a, n_b                        records holding it on each side
      -> pairs     (i, j) sharing a key with n_a·n_b ≤ MAX_BLOCK_PAIRS (candidate_arrays' rule)
      -> shared    every key a pair shares (generating or not), with its holders n_a + n_b
      -> out       per pair and type: equal keys; per pair: rarity; per record and type: keys;
                   per side, the same for pairs *within* it (n² ≤ MAX_BLOCK_PAIRS), for the
                   likely-duplicate groups of the one-to-one step

The driver collects ``out`` as Arrow (integers only: records are numbered, refs never leave the
driver) and scores it with matching/joined.py and ``score_candidates``. Both scalars are fresh
for every run and reach the executors inside the job's closures: the cluster must be inside the
authority's own trust boundary, like the machine that runs ``tafuta link`` (docs/scale.md).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from matching import KEY_TYPES, KEYSET_VERSION, Lexicon, match_keys, normalise, score_candidates
from matching.candidates import MAX_BLOCK_PAIRS
from matching.joined import joined_candidates, joined_groups
from matching.scoring import RARITY_TYPES
from matching.shared import CARRIED_WITH, SHARED_HOLDERS, SHARED_TYPES
from protocol import blinding
from protocol.errors import BlindingError

from ..records.linking import LinkResult
from . import EngineUnavailable

# Spark settings for a link; a cluster's own (spark-submit --conf, spark-defaults.conf) win.
DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.session.timeZone": "UTC",
}
# Shuffle partitions on a local[N] master: a handful per core (the cluster default, 200, is for
# a cluster; on two cores each partition's fixed cost would dominate).
LOCAL_PARTITIONS_PER_CORE = 4
BATCH = 2_048  # records or keys per Arrow batch handed to Python on the executors

KEY_SCHEMA = "side byte, idx int, type string, value string"
TOKEN_SCHEMA = "side byte, type string, value string, token binary"  # noqa: S105 (a schema)


def link_spark(
    records_a: Sequence[dict],
    records_b: Sequence[dict],
    *,
    lexicon: Lexicon,
    min_score: float,
    master: str | None = None,
    key_types: Sequence[str] = KEY_TYPES,
    max_block_pairs: int = MAX_BLOCK_PAIRS,
    timings: dict[str, float] | None = None,
    counts: dict[str, int] | None = None,
    stage: Callable[[str], None] | None = None,
    config: Mapping[str, str] | None = None,
) -> list[LinkResult]:
    """See node.scale.link_on_engine."""
    timings = {} if timings is None else timings
    counts = {} if counts is None else counts
    say = stage or (lambda _text: None)
    key_types = tuple(key_types)
    clock = _Clock(timings)
    try:
        spark = _session(master, config)
    except Exception as err:  # pyspark's own errors (no Java, a bad master) have no common base
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise EngineUnavailable(
            f"Spark did not start at master {master or '(from spark-submit)'}: {first} "
            "(it needs a Java 17+ runtime: java -version)"
        ) from err
    try:
        with clock("start"):
            scalar_a, scalar_b = blinding.new_scalar(), blinding.new_scalar()
            records = _records_frame(spark, records_a, records_b)
        say("match keys")
        with clock("keys"):
            # Distinct per record already (a record's keys are made in one batch): no shuffle.
            keys = records.mapInArrow(_keyer(lexicon), KEY_SCHEMA).persist()
            counts["key_entries"] = keys.count()
            seen = {row[0] for row in keys.select("type").distinct().collect()}
        types = (*key_types, *sorted(seen - set(key_types)))
        column = spark.createDataFrame(
            [(name, i) for i, name in enumerate(types)], "type string, t byte"
        )
        say("blinding")
        with clock("blind"):
            distinct = keys.select("side", "type", "value").distinct()
            # Persisted: the blinding (the costly step) must run once, not once per use.
            tokens = distinct.mapInArrow(_blinder(scalar_a, scalar_b), TOKEN_SCHEMA).persist()
            entries = _without_shared(
                keys.join(tokens, ["side", "type", "value"])
                .join(F.broadcast(column), "type")
                .select("side", "idx", "t", "token"),
                types,
            ).persist()
            counts["distinct_keys"] = tokens.count()
            counts["blindings"] = 2 * counts["distinct_keys"]
            entries.count()
        keys.unpersist()
        tokens.unpersist()
        say("candidate join")
        with clock("join"):
            arrays = _join(
                entries, types, key_types, max_block_pairs, len(records_a), len(records_b)
            )
        entries.unpersist()
        say("stopping spark")
    finally:
        spark.stop()
    counts["pairs"] = len(arrays["left"])
    counts["pairs_within_a"] = len(arrays["self_a"][0])
    counts["pairs_within_b"] = len(arrays["self_b"][0])
    say("scoring")
    with clock("score"):
        refs_a = [str(r["ref"]) for r in records_a]
        refs_b = [str(r["ref"]) for r in records_b]
        if not len(arrays["left"]):
            return []
        candidates = joined_candidates(
            refs_a, refs_b, types, arrays["left"], arrays["right"], arrays["agree"],
            arrays["rarity"], arrays["keys_a"], arrays["keys_b"],
        )  # fmt: skip
        groups = tuple(
            joined_groups(len(refs), first, second, agree, arrays[f"keys_{s}"] > 0, key_types)
            for s, refs in (("a", refs_a), ("b", refs_b))
            for first, second, agree in [arrays[f"self_{s}"]]
        )
        scored = score_candidates(
            candidates, key_types, min_score=min_score, groups=(groups[0], groups[1])
        )
    return [LinkResult(s.ref_a, s.ref_b, s.score, s.evidence) for s in scored]


class _Clock:
    def __init__(self, timings: dict[str, float]):
        self.timings = timings

    def __call__(self, name: str) -> _Clock:
        self.name = name
        return self

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timings[self.name] = time.perf_counter() - self.started


def _session(master: str | None, config: Mapping[str, str] | None) -> SparkSession:
    """A Spark session: ``master`` (e.g. local[2], spark://host:7077, yarn), or the one
    spark-submit set up; ``config`` overrides our defaults."""
    cores = _local_cores(master)
    if cores:
        # Local workers run this very Python (this tafuta); a cluster names its own
        # (spark.pyspark.python, docs/scale.md).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("tafuta-link")
    if master:
        builder = builder.master(master)
    settings = dict(DEFAULTS)
    if cores:
        settings["spark.sql.shuffle.partitions"] = str(cores * LOCAL_PARTITIONS_PER_CORE)
        settings["spark.default.parallelism"] = str(cores * LOCAL_PARTITIONS_PER_CORE)
    settings.update(config or {})
    for name, value in settings.items():
        builder = builder.config(name, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _local_cores(master: str | None) -> int | None:
    if not master or not master.startswith("local"):
        return None
    inside = master[len("local") :].strip("[]")
    if inside in ("", "*"):
        return os.cpu_count() or 1
    try:
        return max(int(inside.split(",")[0]), 1)
    except ValueError:
        return None


def _records_frame(
    spark: SparkSession, records_a: Sequence[dict], records_b: Sequence[dict]
) -> DataFrame:
    """The records, numbered per side (idx: position in its register), as JSON text."""
    side = [0] * len(records_a) + [1] * len(records_b)
    idx = [*range(len(records_a)), *range(len(records_b))]
    text = [json.dumps(r, default=str) for r in (*records_a, *records_b)]
    table = pa.table(
        {
            "side": pa.array(side, pa.int8()),
            "idx": pa.array(idx, pa.int32()),
            "record": pa.array(text, pa.string()),
        }
    )
    frame = spark.createDataFrame(table)
    parallelism = spark.sparkContext.defaultParallelism
    return frame.repartition(max(parallelism, 1) * LOCAL_PARTITIONS_PER_CORE)


def _keyer(lexicon: Lexicon) -> Callable[[Iterable[pa.RecordBatch]], Iterable[pa.RecordBatch]]:
    """normalise + match_keys per record, as node/records/linking.py's record_keys does."""

    def run(batches: Iterable[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
        for batch in batches:
            sides, idxs, types, values = [], [], [], []
            for side, idx, text in zip(
                batch.column(0).to_pylist(),
                batch.column(1).to_pylist(),
                batch.column(2).to_pylist(),
                strict=True,
            ):
                for key_type, value in sorted(
                    set(match_keys(normalise(json.loads(text), lexicon)))
                ):
                    sides.append(side)
                    idxs.append(idx)
                    types.append(key_type)
                    values.append(value)
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array(sides, pa.int8()),
                    pa.array(idxs, pa.int32()),
                    pa.array(types, pa.string()),
                    pa.array(values, pa.string()),
                ],
                names=["side", "idx", "type", "value"],
            )

    return run


def _blinder(
    scalar_a: bytes, scalar_b: bytes
) -> Callable[[Iterable[pa.RecordBatch]], Iterable[pa.RecordBatch]]:
    """Each distinct key of a side blinded by its own side's scalar, then by the other's."""

    def run(batches: Iterable[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
        for batch in batches:
            sides = batch.column(0).to_pylist()
            types = batch.column(1).to_pylist()
            values = batch.column(2).to_pylist()
            tokens: list[bytes] = [b""] * len(sides)
            for side in (0, 1):
                at = [i for i, s in enumerate(sides) if s == side]
                if not at:
                    continue
                first, second = (scalar_a, scalar_b) if side == 0 else (scalar_b, scalar_a)
                keys = [(types[i], values[i]) for i in at]
                for i, token in zip(at, double_blind(first, second, keys), strict=True):
                    tokens[i] = token
            yield pa.RecordBatch.from_arrays(
                [batch.column(0), batch.column(1), batch.column(2), pa.array(tokens, pa.binary())],
                names=["side", "type", "value", "token"],
            )

    return run


def double_blind(first: bytes, second: bytes, keys: Sequence[tuple[str, str]]) -> list[bytes]:
    """X25519(second, X25519(first, H(k))) per key: what blind_own_keys with ``first`` then
    blind_peer_keys with ``second`` give, low-order retries included (protocol/blinding.py)."""
    points = [blinding.hash_to_point(KEYSET_VERSION, t, v) for t, v in keys]
    once = blinding.blind_points(first, points, workers=1)
    for i, result in enumerate(once):
        counter = 0
        while result is None:  # a low-order point (p ≈ 2^-250): the next hash, as the peer does
            counter += 1
            if counter > 255:
                raise BlindingError(f"match key of type {keys[i][0]} cannot be blinded")
            point = blinding.hash_to_point(KEYSET_VERSION, *keys[i], counter)
            result = blinding.blind_points(first, [point], workers=1)[0]
        once[i] = result
    twice = blinding.blind_points(second, once, workers=1)  # type: ignore[arg-type]
    if any(token is None for token in twice):
        raise BlindingError("a blinded key gave a low-order point; refusing the batch")
    return twice  # type: ignore[return-value]


def _without_shared(entries: DataFrame, types: Sequence[str]) -> DataFrame:
    """matching/shared.py's rule, as the local path applies it: keys of SHARED_TYPES that
    SHARED_HOLDERS or more records of one side hold (a shelter's phone) are dropped, and so are
    those records' keys of the types carried with them (CARRIED_WITH: the phone with the sex)."""
    wanted = [i for i, name in enumerate(types) if name in SHARED_TYPES]
    if not wanted:
        return entries
    shared = (
        entries.where(F.col("t").isin(wanted))
        .groupBy("side", "t", "token")
        .agg(F.countDistinct("idx").alias("n"))
        .where(F.col("n") >= SHARED_HOLDERS)
        .select("side", "t", "token")
    )
    kept = entries.join(shared, ["side", "t", "token"], "left_anti")
    index = {name: i for i, name in enumerate(types)}
    carried = [
        (index[name], index[other])
        for name in SHARED_TYPES
        for other in CARRIED_WITH.get(name, ())
        if name in index and other in index
    ]
    if not carried:
        return kept
    spark = entries.sparkSession
    carry = spark.createDataFrame(carried, "t byte, carried byte")
    holders = (
        entries.join(shared, ["side", "t", "token"])
        .join(F.broadcast(carry), "t")
        .select("side", "idx", F.col("carried").alias("t"))
        .distinct()
    )
    return kept.join(holders, ["side", "idx", "t"], "left_anti")


def _join(
    entries: DataFrame,
    types: Sequence[str],
    key_types: Sequence[str],
    max_block_pairs: int,
    n_a: int,
    n_b: int,
) -> dict[str, Any]:
    """The candidate join and every count the scorer needs, collected as numpy arrays."""
    n_types = len(types)
    per_key = (
        entries.groupBy("t", "token")
        .agg(
            F.sum((F.col("side") == 0).cast("long")).alias("n_a"),
            F.sum((F.col("side") == 1).cast("long")).alias("n_b"),
        )
        .persist()
    )
    a = entries.where("side = 0").select(F.col("idx").alias("i"), "t", "token")
    b = entries.where("side = 1").select(F.col("idx").alias("j"), "t", "token")
    generating = per_key.where(
        (F.col("n_a") > 0) & (F.col("n_b") > 0) & (F.col("n_a") * F.col("n_b") <= max_block_pairs)
    ).select("t", "token")
    pairs = a.join(generating, ["t", "token"]).join(b, ["t", "token"]).select("i", "j").distinct()
    shared = (
        pairs.join(a, "i")
        .join(b, ["j", "t", "token"])
        .join(
            per_key.select("t", "token", (F.col("n_a") + F.col("n_b")).alias("holders")),
            ["t", "token"],
        )
        .persist()
    )
    rare = [types.index(t) for t in RARITY_TYPES if t in key_types]
    agree_long = _arrow(shared.groupBy("i", "j", "t").agg(F.count("*").alias("n")))
    rarity_long = _arrow(
        shared.where(F.col("t").isin(rare) if rare else F.lit(False))
        .groupBy("i", "j")
        .agg(F.min("holders").alias("r"))
    )
    shared.unpersist()
    left, right, agree, rarity = _pairs(agree_long, rarity_long, n_b, n_types)
    per_record = _arrow(entries.groupBy("side", "idx", "t").agg(F.count("*").alias("n")))
    keys_a, keys_b = _per_record(per_record, n_a, n_b, n_types)
    self_a = _within(entries, per_key, 0, max_block_pairs, n_a, n_types)
    self_b = _within(entries, per_key, 1, max_block_pairs, n_b, n_types)
    per_key.unpersist()
    return {
        "left": left,
        "right": right,
        "agree": agree,
        "rarity": rarity,
        "keys_a": keys_a,
        "keys_b": keys_b,
        "self_a": self_a,
        "self_b": self_b,
    }


def _within(
    entries: DataFrame, per_key: DataFrame, side: int, max_block_pairs: int, n: int, n_types: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs within one side sharing a key with n² ≤ max_block_pairs holders (the self-join of
    candidate_arrays), and their per-type counts of all shared keys."""
    count = "n_a" if side == 0 else "n_b"
    mine = entries.where(F.col("side") == side)
    x = mine.select(F.col("idx").alias("i"), "t", "token")
    y = mine.select(F.col("idx").alias("j"), "t", "token")
    generating = per_key.where(
        (F.col(count) > 0) & (F.col(count) * F.col(count) <= max_block_pairs)
    ).select("t", "token")
    pairs = (
        x.join(generating, ["t", "token"])
        .join(y, ["t", "token"])
        .where(F.col("i") < F.col("j"))
        .select("i", "j")
        .distinct()
    )
    shared = pairs.join(x, "i").join(y, ["j", "t", "token"])
    found = _arrow(shared.groupBy("i", "j", "t").agg(F.count("*").alias("n")))
    first, second, agree, _ = _pairs(found, None, n, n_types)
    return first, second, agree


def _arrow(frame: DataFrame) -> pa.Table:
    return frame.toArrow()


def _pairs(
    agree_long: pa.Table, rarity_long: pa.Table | None, width: int, n_types: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Long (i, j, t, n) rows to one row per pair: (i, j, agree[pair, t], rarity)."""
    i = agree_long.column("i").to_numpy().astype(np.int64)
    j = agree_long.column("j").to_numpy().astype(np.int64)
    t = agree_long.column("t").to_numpy().astype(np.int64)
    n = agree_long.column("n").to_numpy().astype(np.int64)
    code = i * max(width, 1) + j
    unique, inverse = np.unique(code, return_inverse=True)
    inverse = inverse.ravel()
    agree = np.zeros((len(unique), n_types), dtype=np.int16)  # capped at 127 by the scorer
    agree[inverse, t] = np.minimum(n, 127)
    rarity = np.zeros(len(unique), dtype=np.int64)
    if rarity_long is not None and rarity_long.num_rows:
        r_code = rarity_long.column("i").to_numpy().astype(np.int64) * max(width, 1)
        r_code += rarity_long.column("j").to_numpy().astype(np.int64)
        rarity[np.searchsorted(unique, r_code)] = rarity_long.column("r").to_numpy()
    return unique // max(width, 1), unique % max(width, 1), agree, rarity


def _per_record(table: pa.Table, n_a: int, n_b: int, n_types: int) -> tuple[np.ndarray, ...]:
    side = table.column("side").to_numpy()
    idx = table.column("idx").to_numpy().astype(np.int64)
    t = table.column("t").to_numpy().astype(np.int64)
    n = table.column("n").to_numpy()
    out = []
    for s, size in ((0, n_a), (1, n_b)):
        keys = np.zeros((size, n_types), dtype=np.int16)
        mask = side == s
        keys[idx[mask], t[mask]] = n[mask]
        out.append(keys)
    return tuple(out)
