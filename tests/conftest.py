"""Fixtures shared by every test: a fresh node home and a way to run the CLI in-process.

Package-specific fixtures live in tests/<package>/conftest.py.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from node.canonical import FIELDS
from node.cli import main

SAMPLE = Path(__file__).resolve().parents[1] / "node" / "samples" / "sample-register.csv"


@pytest.fixture
def sample_csv() -> Path:
    return SAMPLE


@pytest.fixture
def run():
    """Run `tafuta ARGS…` in-process; returns click's Result (exit_code, stdout, stderr)."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, env: dict | None = None):
        return runner.invoke(
            main, [str(a) for a in args], input=input, env=env, catch_exceptions=False
        )

    return invoke


@pytest.fixture
def node_home(tmp_path, run) -> Path:
    """A freshly initialised node home with no records."""
    home = tmp_path / "node"
    result = run("--home", home, "init", "--name", "Test Node")
    assert result.exit_code == 0, result.output
    return home


@pytest.fixture
def write_csv(tmp_path):
    """Write rows (dicts) as a canonical CSV; returns its path."""

    def write(
        rows: list[dict],
        name: str = "records.csv",
        header: list[str] | None = None,
        delimiter: str = ",",
        bom: bool = False,
    ) -> Path:
        path = tmp_path / name
        columns = header or [f for f in FIELDS if any(f in r for r in rows)] or ["ref"]
        with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=columns, delimiter=delimiter)
            writer.writeheader()
            writer.writerows(rows)
        return path

    return write
