"""The command line as a whole: homes, listings, status, help on every command."""

from __future__ import annotations

import json

import click
import pytest

from node.cli.main import main


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))


@pytest.mark.parametrize("command", list(all_commands(main)), ids=" ".join)
def test_every_command_has_help_with_a_description(run, command):
    result = run(*command, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.output
    lines = result.output.splitlines()
    assert len([line for line in lines if line.strip()]) > 3


def test_every_command_is_documented_in_the_readme():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    for command in all_commands(main):
        assert f"tafuta {' '.join(command)}" in readme, command


def test_init_refuses_to_overwrite_an_existing_node(run, node_home):
    before = (node_home / "config.toml").read_bytes()
    result = run("--home", node_home, "init", "--name", "Another")
    assert result.exit_code == 1
    assert "already holds a Tafuta node" in result.stderr
    assert (node_home / "config.toml").read_bytes() == before


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--name", "   "), "must not be empty"),
        (("--name", "X", "--url", "ftp://x"), "must start with http:// or https://"),
    ],
)
def test_init_refuses_bad_values(run, tmp_path, args, expected):
    home = tmp_path / "n"
    result = run("--home", home, "init", *args)
    assert result.exit_code == 1
    assert expected in result.stderr
    assert not (home / "config.toml").exists()


def test_home_can_come_from_the_environment(run, tmp_path, node_home):
    result = run("status", env={"TAFUTA_HOME": str(node_home)})
    assert "Test Node" in result.output


@pytest.mark.parametrize("command", [("status",), ("records",), ("records", "count")])
def test_commands_on_a_missing_home_explain_how_to_create_one(run, tmp_path, command):
    result = run("--home", tmp_path / "none", *command)
    assert result.exit_code == 1
    assert "no Tafuta node at" in result.stderr
    assert "init --name" in result.stderr
    assert "Traceback" not in result.output


def test_status_shows_name_counts_size_and_schema(run, node_home, sample_csv):
    run("--home", node_home, "import", sample_csv)
    out = run("--home", node_home, "status").output
    assert "Test Node" in out
    assert "12 missing, 9 found" in out
    assert "database size:" in out
    assert "schema version:" in out
    info = json.loads(run("--home", node_home, "status", "--json").output)
    assert info["records"] == {"missing": 12, "found": 9}


def test_records_lists_shows_and_counts(run, node_home, sample_csv):
    run("--home", node_home, "import", sample_csv)
    listing = run("--home", node_home, "records").output.splitlines()
    assert len(listing) == 21
    assert listing[0].startswith("KW-2024-0113\tmissing\tMwanaisha Zawadi Mwakio")
    as_json = json.loads(run("--home", node_home, "records", "--json").output)
    assert len(as_json) == 21
    shown = run("--home", node_home, "records", "show", "KW-2024-0115").output
    assert "Ng'ombeni" in shown
    assert "sex_raw" in shown
    assert run("--home", node_home, "records", "count").output.strip() == "21"


def test_showing_an_unknown_ref_is_a_clear_error(run, node_home):
    result = run("--home", node_home, "records", "show", "NOPE")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: no record with ref 'NOPE'"
