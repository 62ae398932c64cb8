"""`tafuta link` and `tafuta dedup` from the command line: output, options and bad input."""

from __future__ import annotations

import csv

import pytest

from node.canonical import FIELDS

SAMPLE_TRUE = {
    ("KW-2024-0113", "NB-2024-0501"),
    ("KW-2024-0116", "NB-2024-0504"),
    ("KW-2024-0120", "NB-2024-0508"),
}


def _read(path):
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("mode", [[], ["--plain"]])
def test_link_writes_scored_pairs_best_first(run, sides, tmp_path, mode):
    out = tmp_path / "pairs.csv"
    result = run("link", *sides, "--out", out, *mode)
    assert result.exit_code == 0, result.output
    rows = _read(out)
    assert list(rows[0]) == ["ref_a", "ref_b", "score", "evidence"]
    assert {(r["ref_a"], r["ref_b"]) for r in rows} >= SAMPLE_TRUE
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert all(r["evidence"] for r in rows)
    assert f"{len(rows)} likely pairs written" in result.stdout


def test_link_threshold_keeps_only_higher_scores(run, sides, tmp_path):
    out = tmp_path / "pairs.csv"
    assert run("link", *sides, "--out", out, "--threshold", "0.99").exit_code == 0
    assert all(float(r["score"]) >= 0.99 for r in _read(out))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_text("ref,colour\nA,red\n", "utf-8"), "unknown column 'colour'"),
        (lambda p: p.write_text("given_names\nZawadi\n", "utf-8"), "no 'ref' column"),
        (lambda p: p.write_text("ref,sex\n", "utf-8"), "no records"),
        (lambda p: p.write_bytes(b"ref\n\xff\n"), "not UTF-8"),
        (lambda p: p.write_text("ref,sex\n,F\n", "utf-8"), "no usable records"),
    ],
)
def test_link_refuses_a_file_it_cannot_use_at_all_with_a_clear_message(
    run, sides, tmp_path, make, message
):
    bad = tmp_path / "bad.csv"
    make(bad)
    out = tmp_path / "pairs.csv"
    result = run("link", sides[0], bad, "--out", out)
    assert result.exit_code != 0
    assert message in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert not out.exists()


BAD_VALUES = [
    # (cell text in found.csv, column, what the warning says)
    ("birth_date", "1938-11-31", "kept 1938-11"),
    ("birth_date", "1906-02-29", "kept 1906-02"),
    ("birth_date", "2008-13-45", "kept 2008"),
    ("birth_date", "soon", "set aside"),
    ("sex", "unknown", "set aside"),
    ("age", "about twenty", "set aside"),
    ("phone", "call the office", "set aside"),
    ("origin_country", "Kenya", "set aside"),
]


def _with_bad_value(sides, tmp_path, column, value):
    rows = _read(sides[1])
    rows[0][column] = value
    path = tmp_path / "found-bad.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return path, rows[0]["ref"]


@pytest.mark.parametrize(("column", "value", "kept"), BAD_VALUES)
def test_link_sets_a_bad_value_aside_with_one_warning_naming_file_line_and_column(
    run, sides, tmp_path, column, value, kept
):
    bad, _ = _with_bad_value(sides, tmp_path, column, value)
    out = tmp_path / "pairs.csv"
    result = run("link", sides[0], bad, "--out", out)
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if f"{value!r}" in line]
    assert len(warnings) == 1
    assert "found-bad.csv line 2" in warnings[0] and column in warnings[0]
    assert kept in warnings[0]
    assert "Traceback" not in result.output + result.stderr
    assert {(r["ref_a"], r["ref_b"]) for r in _read(out)} >= SAMPLE_TRUE


@pytest.mark.parametrize(("column", "value", "kept"), BAD_VALUES[:3])
def test_link_strict_refuses_a_bad_value_as_before(run, sides, tmp_path, column, value, kept):
    bad, _ = _with_bad_value(sides, tmp_path, column, value)
    out = tmp_path / "pairs.csv"
    result = run("link", sides[0], bad, "--out", out, "--strict")
    assert result.exit_code == 2
    assert "is not a date" in result.stderr or column in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert not out.exists()


def test_link_sets_aside_a_row_repeating_a_ref_and_strict_refuses_it(run, sides, tmp_path):
    rows = _read(sides[1])
    path = tmp_path / "found-twice.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows([*rows, rows[0]])
    lenient = run("link", sides[0], path, "--out", tmp_path / "a.csv")
    assert lenient.exit_code == 0 and "appears twice" in lenient.stderr
    strict = run("link", sides[0], path, "--out", tmp_path / "b.csv", "--strict")
    assert strict.exit_code == 2 and "appears twice" in strict.stderr


@pytest.mark.parametrize("threshold", ["1.5", "-0.1", "high"])
def test_link_refuses_a_threshold_outside_zero_to_one(run, sides, tmp_path, threshold):
    result = run("link", *sides, "--out", tmp_path / "o.csv", "--threshold", threshold)
    assert result.exit_code == 2
    assert "--threshold" in result.stderr


def test_dedup_lists_the_same_person_registered_twice(run, node_home, sample_csv):
    assert run("--home", node_home, "import", sample_csv).exit_code == 0
    result = run("--home", node_home, "dedup")
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert any({a, b} == {"KW-2024-0116", "NB-2024-0504"} for a, b, *_ in lines)
    assert "likely duplicates" in result.stderr


def test_dedup_writes_a_file_when_asked(run, node_home, sample_csv, tmp_path):
    assert run("--home", node_home, "import", sample_csv).exit_code == 0
    out = tmp_path / "dups.csv"
    assert run("--home", node_home, "dedup", "--out", out).exit_code == 0
    assert list(_read(out)[0]) == ["ref_a", "ref_b", "score", "evidence"]


def test_dedup_on_an_empty_register_finds_nothing(run, node_home):
    result = run("--home", node_home, "dedup")
    assert result.exit_code == 0
    assert result.stdout == ""


def test_dedup_without_a_node_home_says_so(run, tmp_path):
    result = run("--home", tmp_path / "nowhere", "dedup")
    assert result.exit_code != 0
    assert "Traceback" not in result.output + result.stderr
    assert result.stderr.startswith("error:")


def test_dedup_refuses_a_broken_admin_variant_file(run, node_home):
    (node_home / "name_variants.txt").write_text("Mohamed\n", "utf-8")
    result = run("--home", node_home, "dedup")
    assert result.exit_code == 1
    assert "name_variants.txt line 1" in result.stderr


@pytest.mark.parametrize("command", ["link", "dedup"])
def test_commands_have_help_with_examples(run, command):
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.stdout
