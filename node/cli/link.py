"""`tafuta link` and `tafuta dedup`: the linkage engine from the command line.

Thin wrappers over node/records/linking.py; errors reach the CLI edge (cli_support.TafutaGroup) as
ImportRefused (bad input files) or MatchingError / ProtocolError, and are shown as clear lines.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import click
from click._termui_impl import ProgressBar

from matching import DEDUP_THRESHOLD, DEFAULT_THRESHOLD
from node.records.linking import (
    LinkResult,
    dedup_records,
    link_records,
    read_canonical_records,
    read_records_leniently,
)

from .support import CliContext

COLUMNS = ("ref_a", "ref_b", "score", "evidence")
PROGRESS_MIN = 2000  # blinding operations; fewer finish before a bar would help


def _threshold(_ctx, _param, value: float | None) -> float | None:
    if value is not None and not 0 <= value <= 1:
        raise click.BadParameter("must be a probability between 0 and 1")
    return value


@click.command("link")
@click.argument("file_a", type=click.Path(path_type=Path))
@click.argument("file_b", type=click.Path(path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the likely pairs (CSV: ref_a,ref_b,score,evidence).",
)
@click.option(
    "--threshold",
    type=float,
    callback=_threshold,
    help=f"Lowest score written (0–1). Default: the review queue's, {DEFAULT_THRESHOLD}.",
)
@click.option("--plain", is_flag=True, help="Compare raw values instead of blinded match keys.")
@click.option(
    "--strict",
    is_flag=True,
    help="Refuse a file with any bad value instead of setting the value aside.",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "spark"]),
    default="local",
    show_default=True,
    help="Where the private path runs: in this process, or on Apache Spark for registers of "
    "tens of millions (needs pip install 'tafuta[scale]'; docs/scale.md).",
)
@click.option(
    "--master",
    envvar="TAFUTA_SPARK_MASTER",
    default="local[*]",
    show_default=True,
    help="With --engine spark: the cluster (yarn, spark://HOST:7077, k8s://…) or local[N].",
)
def link_command(
    file_a: Path,
    file_b: Path,
    out: Path,
    threshold: float | None,
    plain: bool,
    strict: bool,
    engine: str = "local",
    master: str = "local[*]",
) -> None:
    """Link two canonical CSV (or XLSX) files and write the likely pairs to --out.

    By default both files go through the full private path in this process — match keys,
    blinding with two independent secrets, candidates from doubly blinded keys, scores from the
    key types that agree — so the result is what two nodes would find over the network.
    --plain compares the raw values instead. Pairs are sorted by score, best first.

    A bad value does not stop the link: it is set aside (a date keeps its valid part, so
    1938-11-31 keeps 1938-11) with one warning line naming file, line and column; a row
    without a ref, or repeating one, is set aside whole. --strict refuses such a file instead.

    \b
    Examples:
      tafuta link missing.csv found.csv --out pairs.csv
      tafuta link missing.csv found.csv --out pairs.csv --threshold 0.8 --plain
      tafuta link missing.csv found.csv --out pairs.csv --strict
      tafuta link missing.csv found.csv --out pairs.csv --engine spark --master yarn
    """
    if engine != "local":
        return _link_on_engine(file_a, file_b, out, threshold, plain, strict, engine, master)
    records_a = _read(file_a, strict)
    records_b = _read(file_b, strict)
    with _Bar("blinding match keys") as bar:
        results = link_records(
            records_a, records_b, threshold=threshold, plain=plain, progress=bar.update
        )
    _write(results, out)
    click.echo(f"{len(results)} likely pairs written to {out}")


def _link_on_engine(file_a, file_b, out, threshold, plain, strict, engine, master) -> None:
    """The same private path on a distributed engine (node/scale/); the same pairs."""
    from matching import load_lexicon

    from ..scale import check_engine, link_on_engine

    if plain:
        raise click.UsageError("--plain runs in this process only; leave out --engine")
    check_engine(engine)
    records_a = _read(file_a, strict)
    records_b = _read(file_b, strict)
    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    results = link_on_engine(
        records_a,
        records_b,
        engine=engine,
        lexicon=load_lexicon(),
        min_score=threshold,
        master=master,
        stage=lambda name: click.echo(f"{engine}: {name}", err=True),
    )
    results = [r for r in results if r.score >= threshold]
    _write(results, out)
    click.echo(f"{len(results)} likely pairs written to {out}")


@click.command("dedup")
@click.option(
    "--threshold",
    type=float,
    callback=_threshold,
    help=f"Lowest score listed (0–1). Default: {DEDUP_THRESHOLD}.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the pairs to this CSV file instead of listing them.",
)
@click.pass_obj
def dedup_command(obj: CliContext, threshold: float | None, out: Path | None) -> None:
    """List likely duplicates within the node's own register, best first.

    Compares the raw values (this register is the node's own), with the same normalisation
    and match keys as linking with peers. Tab-separated: ref, ref, score, evidence.

    \b
    Examples:
      tafuta dedup
      tafuta dedup --threshold 0.8 --out duplicates.csv
    """
    from node.runtime import node_lexicon  # only dedup needs the node's runtime

    with obj.store() as (home, store):
        records = list(store.iter_records())
        lexicon = node_lexicon(home)
    results = dedup_records(records, threshold=threshold, lexicon=lexicon)
    if out is not None:
        _write(results, out)
        click.echo(f"{len(results)} likely duplicates written to {out}")
        return
    for r in results:
        click.echo(f"{r.ref_a}\t{r.ref_b}\t{r.score:.4f}\t{r.evidence}")
    click.echo(f"{len(results)} likely duplicates", err=True)


def _read(path: Path, strict: bool) -> list[dict]:
    """The file's records; without --strict, warns once per value or row set aside."""
    if strict:
        return read_canonical_records(path)
    records, warnings = read_records_leniently(path)
    for line in warnings:
        click.echo(f"warning: {line}", err=True)
    if warnings:
        click.echo(
            f"warning: {len(warnings)} values or rows of {path.name} set aside; "
            "--strict refuses such a file instead",
            err=True,
        )
    return records


def _write(results: list[LinkResult], out: Path) -> None:
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for r in results:
            writer.writerow((r.ref_a, r.ref_b, f"{r.score:.4f}", r.evidence))


class _Bar:
    """A click progress bar on stderr, opened on the first update (when the total is known)."""

    def __init__(self, label: str):
        self.label = label
        self.bar: ProgressBar[int] | None = None
        self.shown = 0

    def __enter__(self) -> _Bar:
        return self

    def update(self, done: int, total: int) -> None:
        if self.bar is None:
            if total < PROGRESS_MIN:
                return
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.shown)
        self.shown = done

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
