"""The reliability campaign's fast subset, run by CI (the full run: python -m benchmarks.campaign
--full, figures in docs/reliability.md). Fuzzing is fast; the parts with live nodes are slow."""

from __future__ import annotations

import random
import sqlite3

import pytest

from benchmarks.campaign import backups, badrequests, fulldisk, fuzz, killcycles, load, webrequests
from benchmarks.campaign.common import audit_chain, table_counts, table_digests
from benchmarks.campaign.killcycles import _people
from node.store.db import Store
from node.web.app import SESSION_COOKIE


@pytest.mark.parametrize("target", [fuzz.fuzz_envelopes, fuzz.fuzz_tokens, fuzz.fuzz_importer])
def test_parsers_of_untrusted_input_refuse_cleanly_whatever_they_get(target):
    counts = target(60, seed=0)
    tried = {k: v for k, v in counts.items() if not k.endswith("(refused)")}
    assert tried and all(n == 60 for n in tried.values())


def _web_context() -> badrequests.Context:
    state = webrequests.WebState(
        "http://127.0.0.1:9",
        live={r: (f"cookie-{r}", f"token-{r}") for r in ("caseworker", "coordinator", "admin")},
        other=("cookie-other", "token-other"),
        logged_out="cookie-gone",
        expired=[f"cookie-expired-{i}" for i in range(200)],
        refs=["REF-1", "REF 2"],
    )
    return badrequests.Context(state.url, {}, [], None, {"web": state})


@pytest.mark.parametrize("category", webrequests.categories(), ids=lambda c: c.name)
def test_every_web_category_builds_requests_bad_in_its_own_way(category):
    """The builders, without a server: CSRF requests carry a live session but never both its
    token and our Origin; session requests carry no live session; all are well-formed HTTP."""
    ctx, rng = _web_context(), random.Random(3)  # noqa: S311 - reproducible test inputs
    state = ctx.extra["web"]
    live_cookies = {cookie for cookie, _ in state.live.values()}
    for _ in range(100):
        request = category.build(ctx, rng)
        assert request.method in {"GET", "POST", "PUT", "DELETE", "PATCH"}
        assert request.path.startswith("/") and not request.path.startswith("/v1/")
        cookie = request.headers.get("Cookie", "")
        session = cookie.removeprefix(f"{SESSION_COOKIE}=") if cookie else None
        if category.name.startswith("web: CSRF") or "Origin" in category.name:
            assert session in live_cookies
            good_token = any(f"csrf={t}" in request.body.decode() for _, t in state.live.values())
            own_origin = request.headers.get("Origin") == state.url
            assert not (good_token and own_origin and category.name != "web: CSRF token wrong")
        if category.name in {"web: no session cookie", "web: garbage session cookie",
                             "web: expired session", "web: logged-out session",
                             "web: oversized cookie"}:  # fmt: skip
            assert session not in live_cookies
    assert category.allowed(403, "") and not category.allowed(500, "")
    assert not category.allowed(303, "/queue")


def test_the_audit_chain_check_notices_an_edited_row(tmp_path):
    database = tmp_path / "tafuta.db"
    with Store.open(database) as store:
        for i in range(5):
            store.audit("campaign", "record-viewed", f"R{i}", "", 1_700_000_000 + i)
    assert audit_chain(database) == {"ok": True, "rows": 5, "broken_id": None}
    db = sqlite3.connect(database)
    for (trigger,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
        db.execute(f'DROP TRIGGER "{trigger}"')  # what someone editing the file would do
    db.execute("UPDATE audit_log SET subject = 'R9' WHERE id = 3")
    db.commit()
    db.close()
    assert audit_chain(database)["broken_id"] == 3


def test_table_digests_see_an_update_that_row_counts_miss(tmp_path):
    database = tmp_path / "tafuta.db"
    counts = {"added": 3, "updated": 0, "unchanged": 0, "rejected": 0}
    with Store.open(database) as store:
        store.write_import(_people("R", 3), [], "r.csv", "2026-11-23T00:00:00+00:00", counts)
    before = (table_counts(database), table_digests(database))
    db = sqlite3.connect(database)
    db.execute("UPDATE records SET given_names = 'Changed' WHERE ref = 'R-1'")
    db.commit()
    db.close()
    assert table_counts(database) == before[0]
    changed = {t for t, d in table_digests(database).items() if before[1][t] != d}
    assert changed == {"records"}


@pytest.mark.slow
def test_bad_requests_get_4xx_crash_nothing_and_write_no_row(tmp_path):
    """The peer API's and the web UI's categories (each at least 5 requests)."""
    result = badrequests.run(tmp_path, 400)
    assert result["requests"] >= 400
    assert result["http_5xx"] == 0, result
    assert badrequests.passed(result), result
    web = [n for n in result["by_category"] if n.startswith("web: ")]
    assert len(web) == len(webrequests.categories())
    assert result["expired_sessions_removed_on_sight"] == result["expired_session_requests"] >= 5
    assert result["tables_with_changed_contents"] == []
    # Issue 13's fuzz findings, each a category above or a check here, so they stay fixed.
    for name in ("undecodable body", "boolean for a number", "non-canonical base64",
                 "web: undecodable body", "web: upload over the limits"):  # fmt: skip
        assert result["by_category"][name]["requests"] >= 5, name
    assert set(result["server_headers"]) == {"Tafuta"}
    hostile = result["hostile_connections"]
    assert hostile["left_mid_body"] >= 20 and hostile["stale_preview_purged"], hostile
    assert hostile["slow_heads"] == hostile["slow_bodies"] == 3, hostile


@pytest.mark.slow
def test_killed_imports_and_syncs_leave_whole_data_and_exactly_once_messages(tmp_path):
    imports = killcycles.import_cycles(tmp_path / "import", 3, rows=1000)
    syncs = killcycles.sync_cycles(tmp_path / "sync", 2)
    assert killcycles.passed(imports, syncs), (imports, syncs)
    assert imports["audit_chain_verified_after_kills"] == 3
    assert syncs["audit_chain_verified_after_kills"] == 2


@pytest.mark.slow
def test_a_full_disk_gives_a_clear_error_no_partial_rows_and_recovers(tmp_path):
    """Regression: on a full disk the inbox answered 500 and the CLI said 'cannot rollback - no
    transaction is active' instead of 'database or disk is full'."""
    imports = fulldisk.import_full(tmp_path / "import", rows=3000)
    syncs = fulldisk.sync_full(tmp_path / "sync", records=1500)
    assert "full" in imports["error"], imports
    assert fulldisk.passed(imports, syncs), (imports, syncs)


@pytest.mark.slow
def test_peers_syncing_and_caseworkers_browsing_one_hub_see_no_errors(tmp_path):
    result = load.run(tmp_path, peers=2, seconds=8, caseworkers=2)
    assert load.passed(result), result
    pages = result["browsing"]["pages"]
    assert pages["login"]["requests"] == 4 and pages["queue"]["requests"] > 0


@pytest.mark.slow
def test_backups_taken_while_a_node_writes_restore_and_verify(tmp_path):
    result = backups.run(tmp_path, 1)
    assert result["all_ok"], result
    assert all(r["audit_chain_verified"] and r["audit_rows"] > 0 for r in result["results"])
