"""The reliability campaign's fast subset, run by CI (the full run: python -m benchmarks.campaign
--full, figures in docs/reliability.md). Fuzzing is fast; the parts with live nodes are slow."""

from __future__ import annotations

import pytest

from benchmarks.campaign import backups, badrequests, fulldisk, fuzz, killcycles, load


@pytest.mark.parametrize("target", [fuzz.fuzz_envelopes, fuzz.fuzz_tokens, fuzz.fuzz_importer])
def test_parsers_of_untrusted_input_refuse_cleanly_whatever_they_get(target):
    counts = target(60, seed=0)
    tried = {k: v for k, v in counts.items() if not k.endswith("(refused)")}
    assert tried and all(n == 60 for n in tried.values())


@pytest.mark.slow
def test_bad_requests_get_4xx_crash_nothing_and_write_no_row(tmp_path):
    result = badrequests.run(tmp_path, 300)
    assert result["requests"] >= 300
    assert result["http_5xx"] == 0, result
    assert badrequests.passed(result), result


@pytest.mark.slow
def test_killed_imports_and_syncs_leave_whole_data_and_exactly_once_messages(tmp_path):
    imports = killcycles.import_cycles(tmp_path / "import", 3, rows=1000)
    syncs = killcycles.sync_cycles(tmp_path / "sync", 2)
    assert killcycles.passed(imports, syncs), (imports, syncs)


@pytest.mark.slow
def test_a_full_disk_gives_a_clear_error_no_partial_rows_and_recovers(tmp_path):
    """Regression: on a full disk the inbox answered 500 and the CLI said 'cannot rollback - no
    transaction is active' instead of 'database or disk is full'."""
    imports = fulldisk.import_full(tmp_path / "import", rows=3000)
    syncs = fulldisk.sync_full(tmp_path / "sync", records=1500)
    assert "full" in imports["error"], imports
    assert fulldisk.passed(imports, syncs), (imports, syncs)


@pytest.mark.slow
def test_peers_syncing_with_one_hub_see_no_errors(tmp_path):
    result = load.run(tmp_path, peers=2, seconds=8)
    assert load.passed(result), result


@pytest.mark.slow
def test_backups_taken_while_a_node_writes_restore_and_verify(tmp_path):
    result = backups.run(tmp_path, 1)
    assert result["all_ok"], result
