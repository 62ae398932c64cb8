"""Linking registers of tens of millions beyond one machine: ``tafuta link --engine spark``.

The local private path (records/linking.py) keys, blinds and joins in one process. Here the same
steps run on an Apache Spark cluster (``pip install 'tafuta[scale]'``): match keys per record,
both blindings of every distinct key (X25519, the bulk of the work), the join on doubly blinded
keys, and the per-pair and per-record counts the scorer needs. The driver only fits EM and scores
the pairs (matching/joined.py hands those arrays to ``score_candidates``), so the result is the
local path's, pair for pair: same refs, same scores, same evidence. Why Spark and not Ray, and
how to run it on a real cluster: docs/scale.md.

pyspark is imported only when an engine is asked for: the base install and ``tafuta link``
without ``--engine`` never load it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from ..errors import NodeError

if TYPE_CHECKING:
    from matching import Lexicon

    from ..records.linking import LinkResult

ENGINES = ("local", "spark")
# What each engine needs installed, and what to install.
_NEEDS = {"spark": ("pyspark", "pyarrow", "pandas")}  # pyspark's Arrow paths need pandas


class EngineUnavailable(NodeError):
    """The engine asked for is not installed (the optional extra ``tafuta[scale]``)."""


def check_engine(engine: str) -> None:
    """Raise EngineUnavailable (one clear line) unless ``engine`` can run here."""
    if engine not in ENGINES:
        raise EngineUnavailable(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    missing = [m for m in _NEEDS.get(engine, ()) if not _installed(m)]
    if missing:
        raise EngineUnavailable(
            f"--engine {engine} needs {' and '.join(missing)}, which is not installed: "
            "pip install 'tafuta[scale]'"
        )


def _installed(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def link_on_engine(
    records_a: Sequence[dict],
    records_b: Sequence[dict],
    *,
    engine: str,
    lexicon: Lexicon,
    min_score: float,
    master: str | None = None,
    timings: dict[str, float] | None = None,
    counts: dict[str, int] | None = None,
    stage: Callable[[str], None] | None = None,
    config: Mapping[str, str] | None = None,
) -> list[LinkResult]:
    """``private_link(record_keys(a), record_keys(b))`` on an engine; pairs scoring at least
    ``min_score``, best first. ``timings`` and ``counts``, when given, are filled with the
    seconds each stage took and the sizes it handled (benchmarks/scale_engine.py)."""
    check_engine(engine)
    from .spark import link_spark  # pyspark is imported here, never earlier

    return link_spark(
        records_a,
        records_b,
        lexicon=lexicon,
        min_score=min_score,
        master=master,
        timings=timings,
        counts=counts,
        stage=stage,
        config=config,
    )


__all__ = ["ENGINES", "EngineUnavailable", "check_engine", "link_on_engine"]
