"""Importing registers: rows checked before writing, upserts by ref, refusals change nothing."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest

from node.store.db import Store


def store_snapshot(home: Path) -> list[tuple]:
    """Every record row, to prove a refused import left the store untouched."""
    conn = sqlite3.connect(home / "tafuta.db")
    try:
        return conn.execute("SELECT * FROM records ORDER BY ref").fetchall()
    finally:
        conn.close()


def record(home: Path, ref: str) -> dict:
    with Store.open(home / "tafuta.db") as store:
        return store.get_record(ref)


VALID = {"ref": "A-1", "kind": "missing", "given_names": "Zawadi", "family_name": "Kahindi"}


class TestImportSucceeds:
    def test_sample_register_imports_every_row(self, run, node_home, sample_csv):
        result = run("--home", node_home, "import", sample_csv)
        assert result.exit_code == 0, result.output
        assert "added 21, updated 0, unchanged 0, rejected 0" in result.output
        assert run("--home", node_home, "records", "count").output.strip() == "21"

    def test_reimporting_the_same_file_changes_nothing(self, run, node_home, sample_csv):
        run("--home", node_home, "import", sample_csv)
        before = store_snapshot(node_home)
        result = run("--home", node_home, "import", sample_csv)
        assert "added 0, updated 0, unchanged 21, rejected 0" in result.output
        assert store_snapshot(node_home) == before

    def test_changed_row_updates_record_and_bumps_version(self, run, node_home, write_csv):
        run("--home", node_home, "import", write_csv([VALID]))
        changed = write_csv([{**VALID, "family_name": "Kahindi Charo"}], name="v2.csv")
        result = run("--home", node_home, "import", changed)
        assert "added 0, updated 1, unchanged 0" in result.output
        stored = record(node_home, "A-1")
        assert stored["family_name"] == "Kahindi Charo"
        assert stored["version"] == 2
        assert stored["source_file"] == "v2.csv"

    @pytest.mark.parametrize(
        ("raw", "code"),
        [
            ("female", "F"),
            ("F", "F"),
            ("f", "F"),
            ("Mwanamke", "F"),
            ("male", "M"),
            ("m", "M"),
            ("MWANAUME", "M"),
            ("x", "X"),
            ("", None),
        ],
    )
    def test_sex_spellings_map_to_a_code_and_keep_the_raw_value(
        self, run, node_home, write_csv, raw, code
    ):
        run("--home", node_home, "import", write_csv([{**VALID, "sex": raw}]))
        stored = record(node_home, "A-1")
        assert stored["sex"] == code
        assert stored["sex_raw"] == (raw or None)

    @pytest.mark.parametrize(
        ("delimiter", "bom"), [(",", False), (",", True), (";", False), (";", True)]
    )
    def test_comma_or_semicolon_with_or_without_bom(
        self, run, node_home, write_csv, delimiter, bom
    ):
        path = write_csv([VALID, {**VALID, "ref": "A-2"}], delimiter=delimiter, bom=bom)
        result = run("--home", node_home, "import", path)
        assert result.exit_code == 0, result.output
        assert record(node_home, "A-1")["given_names"] == "Zawadi"

    def test_map_reads_fields_from_other_column_names(self, run, node_home, tmp_path):
        path = tmp_path / "jina.csv"
        path.write_text("Nambari,Jina,Ukoo,kind\nA-1,Zawadi,Kahindi,found\n", encoding="utf-8")
        result = run(
            "--home", node_home, "import", path,
            "--map", "ref=Nambari", "--map", "given_names=Jina", "--map", "family_name=ukoo",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert record(node_home, "A-1")["family_name"] == "Kahindi"

    def test_header_names_match_case_insensitively_after_trimming(self, run, node_home, tmp_path):
        path = tmp_path / "caps.csv"
        path.write_text(" REF , Kind ,Given_Names\nA-1,missing,Zawadi\n", encoding="utf-8")
        assert run("--home", node_home, "import", path).exit_code == 0

    def test_kind_option_fills_empty_kind_cells(self, run, node_home, write_csv):
        path = write_csv([{"ref": "A-1", "given_names": "Zawadi"}])
        result = run("--home", node_home, "import", path, "--kind", "found")
        assert result.exit_code == 0, result.output
        assert record(node_home, "A-1")["kind"] == "found"

    def test_xlsx_register_imports(self, run, node_home, tmp_path):
        import datetime

        import openpyxl

        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(["ref", "kind", "given_names", "birth_date", "age"])
        sheet.append(["X-1", "missing", "Amina", datetime.date(2008, 3, 4), 15])
        path = tmp_path / "register.xlsx"
        book.save(path)
        result = run("--home", node_home, "import", path)
        assert result.exit_code == 0, result.output
        stored = record(node_home, "X-1")
        assert (stored["birth_date"], stored["age"]) == ("2008-03-04", "15")

    def test_dry_run_counts_but_writes_nothing(self, run, node_home, sample_csv):
        result = run("--home", node_home, "import", sample_csv, "--dry-run")
        assert "would have added 21" in result.output
        assert store_snapshot(node_home) == []

    def test_skip_invalid_keeps_what_can_be_used_and_rejects_only_unusable_rows(
        self, run, node_home, write_csv
    ):
        path = write_csv(
            [
                VALID,
                {**VALID, "ref": "A-2", "birth_date": "2008-13-40"},
                {**VALID, "ref": "A-3", "kind": "lost"},
            ]
        )
        result = run("--home", node_home, "import", path, "--skip-invalid")
        assert result.exit_code == 0, result.output
        assert "added 2, updated 0, unchanged 0, rejected 1" in result.output
        assert record(node_home, "A-2")["birth_date"] == "2008"
        warnings = [line for line in result.stderr.splitlines() if "'2008-13-40'" in line]
        assert len(warnings) == 1 and "line 3, birth_date" in warnings[0]
        assert "kept 2008" in warnings[0]
        rejected = path.with_name("records.rejected.csv")
        with rejected.open(encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        assert [r["ref"] for r in rows] == ["A-3"]
        assert "kind: 'lost' is not missing or found" in rows[0]["rejected_because"]
        assert "Traceback" not in result.output + result.stderr

    def test_without_skip_invalid_a_bad_value_still_refuses_the_whole_file(
        self, run, node_home, write_csv
    ):
        path = write_csv([VALID, {**VALID, "ref": "A-2", "birth_date": "1938-11-31"}])
        result = run("--home", node_home, "import", path)
        assert result.exit_code == 2
        assert "'1938-11-31' is not a real date" in result.stderr
        assert "Traceback" not in result.output + result.stderr
        assert store_snapshot(node_home) == []

    @pytest.mark.parametrize(
        "cell", ['=HYPERLINK("http://x")', "@SUM(A1)", "+cmd|' /C calc'!A0", "-A1*2"]
    )
    def test_rejected_rows_file_guards_cells_a_spreadsheet_would_run(
        self, run, node_home, tmp_path, cell
    ):
        path = tmp_path / "records.csv"
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["ref", "kind", "given_names", "notes"])
            writer.writerow(["A-1", "missing", "Zawadi", ""])
            # An unusable kind rejects the row whole, formula-looking cells and all.
            writer.writerow(["A-2", "lost", cell, cell])
        result = run("--home", node_home, "import", path, "--skip-invalid")
        assert result.exit_code == 0, result.stderr
        with path.with_name("records.rejected.csv").open(encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        rejected = rows[1]
        for value in rejected:
            assert not value.startswith(("=", "+", "-", "@")), value
        assert rejected[2] == "'" + cell and rejected[0] == "A-2"

    def test_large_import_shows_progress(self, run, node_home, write_csv):
        rows = [{**VALID, "ref": f"A-{i}"} for i in range(2500)]
        result = run("--home", node_home, "import", write_csv(rows))
        assert result.exit_code == 0
        assert "checking rows" in result.stderr


class TestDatesAsRegistersWriteThem:
    """Dates as East-African registers write them are read, stored as YYYY[-MM[-DD]], and the
    value as written is kept beside (shown on the record page, given back by export)."""

    @pytest.mark.parametrize(
        ("field", "written", "stored"),
        [
            ("birth_date", "15/03/2006", "2006-03-15"),
            ("birth_date", "15.03.2006", "2006-03-15"),
            ("birth_date", "01.02.2009", "2009-02-01"),
            ("birth_date", "5-3-2006", "2006-03-05"),
            ("birth_date", "2006/03/15", "2006-03-15"),
            ("last_seen_date", "2024/04/10", "2024-04-10"),
            ("birth_date", "March 2005", "2005-03"),
            ("birth_date", "Machi 2005", "2005-03"),
            ("birth_date", "15 March 2006", "2006-03-15"),
            ("birth_date", "March 15, 2006", "2006-03-15"),
            ("birth_date", "03/2006", "2006-03"),
            ("last_seen_date", "10 Aprili 2024", "2024-04-10"),
            ("age_on", "02.11.2025", "2025-11-02"),
            ("birth_date", "15-Mar-2006", "2006-03-15"),
            ("last_seen_date", "2024-04-10T00:00:00", "2024-04-10"),
            ("birth_date", "Mar-2006", "2006-03"),
        ],
    )
    def test_a_date_as_registers_write_it_is_stored_as_iso_and_the_raw_value_kept(
        self, run, node_home, write_csv, field, written, stored
    ):
        result = run("--home", node_home, "import", write_csv([{**VALID, field: written}]))
        assert result.exit_code == 0, result.output + result.stderr
        saved = record(node_home, "A-1")
        assert saved[field] == stored
        assert json.loads(saved["raw_values"]) == {field: written}

    def test_an_iso_date_is_stored_without_a_raw_copy(self, run, node_home, write_csv):
        run("--home", node_home, "import", write_csv([{**VALID, "birth_date": "2006-03-15"}]))
        saved = record(node_home, "A-1")
        assert (saved["birth_date"], saved["raw_values"]) == ("2006-03-15", None)

    @pytest.mark.parametrize(
        ("written", "age"), [("~16", "16"), ("about 16", "16"), ("ca. 16", "16")]
    )
    def test_an_approximate_age_in_the_birth_date_column_is_an_age(
        self, run, node_home, write_csv, written, age
    ):
        result = run("--home", node_home, "import", write_csv([{**VALID, "birth_date": written}]))
        assert result.exit_code == 0, result.stderr
        saved = record(node_home, "A-1")
        assert (saved["birth_date"], saved["age"]) == (None, age)
        assert json.loads(saved["raw_values"]) == {"birth_date": written, "age": None}

    @pytest.mark.parametrize(
        ("written", "age"), [("~16", "16"), ("16 yrs", "16"), ("14.5", "14.5")]
    )
    def test_an_age_as_registers_write_it_is_stored_in_years(
        self, run, node_home, write_csv, written, age
    ):
        assert (
            run("--home", node_home, "import", write_csv([{**VALID, "age": written}])).exit_code
            == 0
        )
        assert record(node_home, "A-1")["age"] == age

    @pytest.mark.parametrize(
        ("option", "config", "stored"),
        [
            ([], "", "2006-04-03"),
            (["--date-order", "mdy"], "", "2006-03-04"),
            (["--date-order", "dmy"], '[import]\ndate_order = "mdy"\n', "2006-04-03"),
            ([], '[import]\ndate_order = "mdy"\n', "2006-03-04"),
        ],
    )
    def test_day_and_month_follow_the_option_then_the_config_then_day_first(
        self, run, node_home, write_csv, option, config, stored
    ):
        with (node_home / "config.toml").open("a", encoding="utf-8") as out:
            out.write(config)
        path = write_csv([{**VALID, "birth_date": "03/04/2006"}])
        result = run("--home", node_home, "import", path, *option)
        assert result.exit_code == 0, result.stderr
        assert record(node_home, "A-1")["birth_date"] == stored

    @pytest.mark.parametrize(("country", "stored"), [("KE", "2006-04-03"), ("US", "2006-03-04")])
    def test_the_nodes_country_sets_the_default_order(
        self, run, node_home, write_csv, country, stored
    ):
        config = node_home / "config.toml"
        config.write_text(
            config.read_text().replace("[node]\n", f'[node]\ncountry = "{country}"\n', 1)
        )
        path = write_csv([{**VALID, "birth_date": "03/04/2006"}])
        assert run("--home", node_home, "import", path).exit_code == 0
        assert record(node_home, "A-1")["birth_date"] == stored

    @pytest.mark.parametrize(("country", "stored"), [("ke", "2006-04-03"), ("US", "2006-03-04")])
    def test_init_country_sets_how_the_node_reads_dates(
        self, run, tmp_path, write_csv, country, stored
    ):
        home = tmp_path / "fresh"
        made = run("--home", home, "init", "--name", "Fresh", "--country", country)
        assert made.exit_code == 0, made.stderr
        path = write_csv([{**VALID, "birth_date": "03/04/2006"}])
        assert run("--home", home, "import", path).exit_code == 0
        assert record(home, "A-1")["birth_date"] == stored

    @pytest.mark.parametrize("country", ["Kenya", "K", "12"])
    def test_init_refuses_a_country_that_is_no_code(self, run, tmp_path, country):
        result = run("--home", tmp_path / "fresh", "init", "--name", "Fresh", "--country", country)
        assert result.exit_code != 0 and "two-letter code" in result.stderr
        assert not (tmp_path / "fresh").exists()

    @pytest.mark.parametrize(
        ("field", "written", "message"),
        [
            ("birth_date", "2009-02-30", "'2009-02-30' is not a real date"),
            ("birth_date", "31/04/2006", "'31/04/2006' is not a real date"),
            ("birth_date", "03/15/2006", "is not a real date when read as day/month/year; if "
             "the file writes the month first, read it as month/day/year (--date-order mdy)"),
            ("birth_date", "15/03/06", "has a two-digit year; write the year in full"),
            ("birth_date", "15-Mar-06", "has no four-digit year; write the year in full"),
            ("birth_date", "soon", "'soon' is not a date; write it like 2006-03-15, 15/03/2006"),
            ("birth_date", "~200", "'~200' is not an age in years (0–120)"),
            ("last_seen_date", "~16", "'~16' is not a date"),
            ("age_on", "March 2025", "'March 2025' is not a full date (day, month and year)"),
            ("birth_date", "1850", "'1850' is outside 1900–"),
        ],
    )  # fmt: skip
    def test_a_date_that_cannot_be_meant_is_refused_with_what_is_wrong(
        self, run, node_home, write_csv, field, written, message
    ):
        result = run("--home", node_home, "import", write_csv([{**VALID, field: written}]))
        assert result.exit_code == 2
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.output + result.stderr
        assert store_snapshot(node_home) == []

    def test_an_age_in_the_birth_date_column_must_agree_with_the_age_column(
        self, run, node_home, write_csv
    ):
        path = write_csv([{**VALID, "birth_date": "~16", "age": "15"}])
        result = run("--home", node_home, "import", path)
        assert result.exit_code == 2
        assert "birth_date: '~16' is an age, but the age column says 15" in result.stderr

    def test_a_bad_date_order_in_the_config_is_one_clear_error(self, run, node_home, write_csv):
        with (node_home / "config.toml").open("a", encoding="utf-8") as out:
            out.write('[import]\ndate_order = "ymd"\n')
        result = run("--home", node_home, "import", write_csv([VALID]))
        assert result.exit_code != 0
        assert (
            result.stderr.startswith("error: ") and "date_order must be dmy or mdy" in result.stderr
        )
        assert "Traceback" not in result.output + result.stderr


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Each bad input and a fragment its message must contain."""
    header = "ref,kind,given_names,sex,birth_date\n"

    def text(name: str, body: str) -> Path:
        path = tmp_path / name
        path.write_text(body, encoding="utf-8")
        return path

    def raw(name: str, body: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(body)
        return path

    return {
        "bad date": (
            text(
                "records.csv",
                header + "A-1,missing,Amina,F,2008-01-01\nA-2,missing,Amina,F,2008-13-40\n",
            ),
            "records.csv line 3, birth_date: '2008-13-40' is not a real date",
        ),
        "unknown sex": (
            text("sex.csv", header + "A-1,missing,Amina,banana,\n"),
            "sex.csv line 2, sex: 'banana' is not a known spelling of F, M or X",
        ),
        "missing ref value": (
            text("noref.csv", header + ",missing,Amina,F,\n"),
            "noref.csv line 2, ref: '' is empty",
        ),
        "missing ref column": (
            text("nocol.csv", "kind,given_names\nmissing,Amina\n"),
            "there is no 'ref' column",
        ),
        "duplicate ref": (
            text("dup.csv", header + "A-1,missing,Amina,F,\nA-1,missing,Zawadi,F,\n"),
            "dup.csv line 3, ref: 'A-1' appears twice (first at dup.csv line 2)",
        ),
        "non-UTF-8 bytes": (
            raw("latin.csv", header.encode() + "A-1,missing,Hélène,F,\n".encode("latin-1")),
            "latin.csv line 2: byte 0xe9 is not UTF-8",
        ),
        "empty file": (raw("empty.csv", b""), "empty.csv is empty"),
        "header only": (text("header.csv", header), "header.csv has a header but no records"),
        "unknown delimiter": (
            text("tabs.csv", "ref\tkind\nA-1\tmissing\n"),
            "cannot tell the delimiter",
        ),
        "a 10 MB cell": (
            text("huge.csv", header + "A-1,missing," + "x" * 10_000_000 + ",F,\n"),
            "huge.csv line 2, given_names: 'xxxxxxxx",
        ),
        "formula-looking cell": (
            text("formula.csv", header + 'A-1,missing,"=HYPERLINK(""http://x"")",F,\n'),
            "formula.csv line 2, given_names: '=HYPERLINK",
        ),
        "unknown kind": (
            text("kind.csv", header + "A-1,lost,Amina,F,\n"),
            "kind.csv line 2, kind: 'lost' is not missing or found",
        ),
        "unknown column": (
            text("extra.csv", "ref,kind,jina\nA-1,missing,Amina\n"),
            "unknown column 'jina'",
        ),
        "too many cells": (
            text("wide.csv", "ref,kind\nA-1,missing,extra\n"),
            "wide.csv line 2: has 3 cells but the header has 2 columns",
        ),
        "missing file": (tmp_path / "nowhere.csv", "nowhere.csv: no such file"),
    }


BAD_CASES = [
    "bad date", "unknown sex", "missing ref value", "missing ref column", "duplicate ref",
    "non-UTF-8 bytes", "empty file", "header only", "unknown delimiter", "a 10 MB cell",
    "formula-looking cell", "unknown kind", "unknown column", "too many cells", "missing file",
]  # fmt: skip


class TestBadInputIsRefused:
    @pytest.mark.parametrize("case", BAD_CASES)
    def test_bad_file_is_refused_whole_with_a_clear_message(
        self, run, node_home, sample_csv, tmp_path, case
    ):
        run("--home", node_home, "import", sample_csv)
        before = store_snapshot(node_home)
        path, expected = _bad_files(tmp_path)[case]
        result = run("--home", node_home, "import", path)
        assert result.exit_code == 2, result.output
        assert expected in result.stderr
        assert "Traceback" not in result.output + result.stderr
        assert "nothing was written" in result.stderr
        assert store_snapshot(node_home) == before

    def test_every_problem_is_reported_not_just_the_first(self, run, node_home, tmp_path):
        path = tmp_path / "many.csv"
        path.write_text(
            "ref,kind,birth_date,sex\nA-1,missing,2008-13-40,F\nA-2,missing,2008,zz\n",
            encoding="utf-8",
        )
        result = run("--home", node_home, "import", path)
        assert "line 2, birth_date" in result.stderr
        assert "line 3, sex" in result.stderr
        assert "refused: 2 problems" in result.stderr

    @pytest.mark.parametrize("skip", [[], ["--skip-invalid"]])
    def test_every_problem_of_a_file_is_reported_in_one_pass(self, run, node_home, tmp_path, skip):
        """Header, cells, duplicates and ragged rows together: one fix-up of the spreadsheet."""
        path = tmp_path / "messy.csv"
        path.write_text(
            "ref,kind,birth_date,sex,jina\n"
            "A-1,missing,2008-13-40,F,x\n"
            "A-1,missing,2009-02-30,zz,y\n"
            "A-2,lost,2008,F,z,extra\n",
            encoding="utf-8",
        )
        result = run("--home", node_home, "import", path, *skip)
        assert result.exit_code == 2
        for expected in [
            "messy.csv line 1: unknown column 'jina'",
            "messy.csv line 2, birth_date: '2008-13-40' is not a real date",
            "messy.csv line 3, birth_date: '2009-02-30' is not a real date",
            "messy.csv line 3, sex: 'zz' is not a known spelling",
            "messy.csv line 3, ref: 'A-1' appears twice (first at messy.csv line 2)",
            "messy.csv line 4: has 6 cells but the header has 5 columns",
            "messy.csv line 4, kind: 'lost' is not missing or found",
        ]:
            assert expected in result.stderr, result.stderr
        assert "refused: 7 problems" in result.stderr
        assert store_snapshot(node_home) == []

    def test_a_bad_map_option_is_reported_with_the_files_problems(self, run, node_home, write_csv):
        path = write_csv([{**VALID, "birth_date": "soon"}])
        result = run("--home", node_home, "import", path, "--map", "jina=Name")
        assert result.exit_code == 2
        assert "--map 'jina=Name': 'jina' is not a canonical field" in result.stderr
        assert "line 2, birth_date: 'soon' is not a date" in result.stderr
        assert store_snapshot(node_home) == []

    def test_a_duplicate_ref_is_reported_with_the_bad_values_of_its_row(
        self, run, node_home, write_csv
    ):
        path = write_csv([VALID, {**VALID, "birth_date": "soon"}])
        result = run("--home", node_home, "import", path)
        assert "line 3, birth_date: 'soon' is not a date" in result.stderr
        assert "line 3, ref: 'A-1' appears twice (first at records.csv line 2)" in result.stderr
        assert "refused: 2 problems" in result.stderr

    def test_a_file_without_a_ref_column_says_so_once_beside_the_bad_cells(
        self, run, node_home, tmp_path
    ):
        path = tmp_path / "noref.csv"
        path.write_text("kind,sex\nmissing,F\nmissing,zz\n", encoding="utf-8")
        result = run("--home", node_home, "import", path)
        assert result.stderr.count("there is no 'ref' column") == 1
        assert "line 3, sex: 'zz'" in result.stderr
        assert "ref: '' is empty" not in result.stderr

    def test_a_file_with_one_bad_row_writes_none_of_the_good_ones(self, run, node_home, write_csv):
        path = write_csv([VALID, {**VALID, "ref": "A-2", "age": "two hundred"}])
        assert run("--home", node_home, "import", path).exit_code == 2
        assert store_snapshot(node_home) == []

    @pytest.mark.parametrize(
        ("mapping", "expected"),
        [
            ("given_names", "write it as FIELD=COLUMN"),
            ("jina=Name", "'jina' is not a canonical field"),
            ("given_names=Nope", "the file has no column 'Nope'"),
        ],
    )
    def test_bad_map_option_is_refused(self, run, node_home, write_csv, mapping, expected):
        result = run("--home", node_home, "import", write_csv([VALID]), "--map", mapping)
        assert result.exit_code == 2
        assert expected in result.stderr
        assert store_snapshot(node_home) == []

    def test_kind_in_file_contradicting_kind_option_is_refused(self, run, node_home, write_csv):
        result = run("--home", node_home, "import", write_csv([VALID]), "--kind", "found")
        assert result.exit_code == 2
        assert "contradicts --kind found" in result.stderr
