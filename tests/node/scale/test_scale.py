"""`tafuta link --engine spark` (node/scale/): optional, refused clearly when not installed, and
giving the local path's pairs — refs, scores and evidence — on the East-African set."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _rows(path: Path) -> list[tuple[str, ...]]:
    with path.open(encoding="utf-8") as handle:
        return sorted(tuple(row) for row in csv.reader(handle))


class TestWithoutTheExtra:
    def test_link_without_engine_never_imports_spark_or_ray(self, sides, tmp_path):
        """The base install must not need (or load) the scale extra's engines."""
        out = tmp_path / "pairs.csv"
        code = (
            "import sys\n"
            "from node.cli import main\n"
            f"main(['link', {str(sides[0])!r}, {str(sides[1])!r}, '--out', {str(out)!r}],"
            " standalone_mode=False)\n"
            "print(sorted(m for m in ('pyspark', 'ray') if m in sys.modules))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
        )
        assert result.stdout.strip().splitlines()[-1] == "[]"
        assert out.exists()

    @pytest.mark.parametrize("missing", ["pyspark", "pyarrow", "pandas"])
    def test_engine_without_its_package_is_one_clear_line_and_writes_nothing(
        self, run, sides, tmp_path, monkeypatch, missing
    ):
        monkeypatch.setitem(sys.modules, missing, None)  # import fails as if not installed
        out = tmp_path / "pairs.csv"
        result = run("link", *sides, "--out", out, "--engine", "spark")
        assert result.exit_code == 1
        assert result.stderr.splitlines() == [
            f"error: --engine spark needs {missing}, which is not installed: "
            "pip install 'tafuta[scale]'"
        ]
        assert not out.exists()

    def test_plain_runs_only_in_this_process(self, run, sides, tmp_path):
        result = run("link", *sides, "--out", tmp_path / "p.csv", "--plain", "--engine", "spark")
        assert result.exit_code == 2
        assert "--plain runs in this process only" in result.stderr
        assert not (tmp_path / "p.csv").exists()

    def test_link_help_names_the_engine_and_the_extra(self, run):
        help_text = run("link", "--help").stdout
        assert "--engine [local|spark]" in help_text
        assert "tafuta[scale]" in help_text


@pytest.mark.slow
def test_spark_on_a_local_cluster_gives_the_local_pairs_on_the_east_african_set(tmp_path):
    """1,500 × 1,500 records of benchmarks/east_africa.py (written by the benchmark script, so
    this test imports no benchmark code), linked by `tafuta link` in this process and on Spark
    local[2]: the same pairs with the same scores and evidence."""
    pytest.importorskip("pyspark", reason="needs the scale extra: pip install 'tafuta[scale]'")
    script = ROOT / "benchmarks" / "scale_engine.py"
    subprocess.run(
        [sys.executable, script, "write", tmp_path, "--people", "1500", "--seed", "4"],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    tafuta = [sys.executable, "-c", "from node.cli import main; main()"]
    for name, extra in (("local.csv", []), ("spark.csv", ["--engine", "spark"])):
        done = subprocess.run(
            [*tafuta, "link", a, b, "--out", tmp_path / name, *extra, "--master", "local[2]"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=1200,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert "Traceback" not in done.stderr
    local, spark = _rows(tmp_path / "local.csv"), _rows(tmp_path / "spark.csv")
    assert len(local) > 300
    assert spark == local
