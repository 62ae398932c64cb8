"""Fixtures shared by every test: a fresh node home and a way to run the CLI in-process.

Package-specific fixtures live in tests/<package>/conftest.py.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from keys import KdfParams
from node.canonical import FIELDS
from node.cli.main import main
from node.testing.processes import HOME_PASSPHRASE, SAMPLE, Network
from node.trust.identity import create_node


@pytest.fixture
def sample_csv() -> Path:
    return SAMPLE


@pytest.fixture
def run(passphrase_file):
    """Run `tafuta ARGS…` in-process; returns click's Result (exit_code, stdout, stderr).

    TAFUTA_PASSPHRASE_FILE points at ``passphrase_file`` unless ``env`` says otherwise (set it
    to None to test the passphrase prompt), so commands that need the keys never wait for input.
    """
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, env: dict | None = None):
        env = {"TAFUTA_PASSPHRASE_FILE": str(passphrase_file), **(env or {})}
        return runner.invoke(
            main, [str(a) for a in args], input=input, env=env, catch_exceptions=False
        )

    return invoke


@pytest.fixture
def passphrase_file(tmp_path) -> Path:
    """A file holding the passphrase of every test node's keys (HOME_PASSPHRASE)."""
    path = tmp_path / "passphrase.txt"
    path.write_text(HOME_PASSPHRASE + "\n", encoding="utf-8")
    return path


@pytest.fixture
def node_home(tmp_path) -> Path:
    """A freshly initialised node home with no records, and keys under HOME_PASSPHRASE.

    Made with the library call `init` uses, but with cheap key-derivation settings so the
    suite stays fast (the CLI's own `init` is tested in tests/node/trust/test_peers_cli.py).
    """
    home = tmp_path / "node"
    create_node(home, name="Test Node", passphrase=HOME_PASSPHRASE, kdf=KdfParams.cheap())
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


@pytest.fixture
def network(tmp_path):
    """Nodes as processes under tmp_path (node/testing/processes.py), all killed afterwards."""
    made = Network(tmp_path)
    yield made
    made.close()
