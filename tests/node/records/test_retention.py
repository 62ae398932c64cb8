"""Retention: records past their retention are retracted at every peer, purged after a grace
period with an audit entry, closed cases too; `tafuta status` and `tafuta retention` say what
expires this month; bad settings are refused clearly."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta

import pytest

from matching.synthetic import generate
from node.home import open_home
from node.records import retention
from node.records.importer import apply_import, plan_import
from node.records.retention import RetentionPolicy
from node.store.db import Store
from node.testing.inprocess import Mesh
from node.testing.processes import write_register

NOW = 1_800_000_000
TODAY = datetime.now(UTC).date()


def configure(home, text: str) -> None:
    with (home / "config.toml").open("a", encoding="utf-8") as out:
        out.write(text)


def audit_actions(store: Store, ref: str) -> list[str]:
    rows = store.conn.execute("SELECT action FROM audit_log WHERE subject = ? ORDER BY id", (ref,))
    return [action for (action,) in rows]


@pytest.mark.parametrize(
    ("config", "policy"),
    [
        ("", RetentionPolicy(None, 30)),
        ("[retention]\ndays = 730\n", RetentionPolicy(730, 30)),
        ("[retention]\ndays = 365\ngrace_days = 7\n", RetentionPolicy(365, 7)),
    ],
)
def test_the_policy_comes_from_the_config(node_home, config, policy):
    configure(node_home, config)
    assert RetentionPolicy.of(open_home(node_home)) == policy


@pytest.mark.parametrize("config", ["days = 0", 'days = "two years"', "grace_days = -1",
                                    "days = 1.5"])  # fmt: skip
def test_a_bad_retention_setting_is_one_clear_error(run, node_home, config):
    configure(node_home, f"[retention]\n{config}\n")
    for command in (["retention"], ["status"]):
        result = run("--home", node_home, *command)
        assert result.exit_code != 0
        assert result.stderr.startswith("error: ") and "[retention]" in result.stderr
        assert "Traceback" not in result.output + result.stderr


def records(*rows: dict) -> list[dict]:
    return [{"ref": f"R-{i}", "kind": "missing", "given_names": "Asha", **row}
            for i, row in enumerate(rows, start=1)]  # fmt: skip


@pytest.fixture
def store(node_home, tmp_path):
    with Store.open(node_home / "tafuta.db") as opened:
        yield opened


def load(store: Store, tmp_path, rows: list[dict], when: datetime) -> None:
    plan = plan_import(write_register(tmp_path / "register.csv", rows), store)
    apply_import(plan, store, now=when)


def test_a_record_past_retain_until_is_retracted_then_purged_after_the_grace_period(
    store, tmp_path
):
    load(store, tmp_path, records({"retain_until": "2030-06-30"}, {}), datetime(2030, 1, 1))
    policy = RetentionPolicy(days=None, grace_days=30)
    assert retention.apply(store, policy, date(2030, 6, 29), NOW).expired == []
    done = retention.apply(store, policy, date(2030, 6, 30), NOW)
    assert done.expired == ["R-1"] and done.purged == []
    assert store.get_record("R-1")["retracted"] == 1
    assert retention.apply(store, policy, date(2030, 7, 29), NOW).purged == []
    assert retention.apply(store, policy, date(2030, 7, 30), NOW).purged == ["R-1"]
    assert [r["ref"] for r in store.iter_records(include_retracted=True)] == ["R-2"]
    assert audit_actions(store, "R-1")[-2:] == ["record-expired", "record-purged"]


def test_the_node_wide_period_counts_from_the_last_change(store, tmp_path):
    load(store, tmp_path, records({}, {}), datetime(2030, 1, 1, tzinfo=UTC))
    load(store, tmp_path, records({}, {"given_names": "Juma"}), datetime(2030, 3, 1, tzinfo=UTC))
    policy = RetentionPolicy(days=365, grace_days=30)
    assert retention.review(store, policy, date(2030, 12, 31)).expired == []
    assert retention.review(store, policy, date(2031, 1, 1)).expired == ["R-1"]
    assert retention.review(store, policy, date(2031, 3, 1)).expired == ["R-1", "R-2"]


def test_a_closed_case_follows_the_same_rule_from_its_closing(store, tmp_path):
    load(store, tmp_path, records({}), datetime(2030, 1, 1, tzinfo=UTC))
    closed_at = int(datetime(2030, 5, 1, tzinfo=UTC).timestamp())
    store.retract_record("R-1", actor="test", reason="case closed: reunited", now=closed_at)
    policy = RetentionPolicy(days=90, grace_days=10)
    assert retention.apply(store, policy, date(2030, 7, 29), NOW).expired == []
    assert retention.apply(store, policy, date(2030, 7, 30), NOW).expired == ["R-1"]
    assert retention.apply(store, policy, date(2030, 8, 9), NOW).purged == ["R-1"]


def test_a_record_imported_again_after_expiring_is_kept_again(store, tmp_path):
    load(store, tmp_path, records({"retain_until": "2030-06-30"}), datetime(2030, 1, 1))
    retention.apply(store, RetentionPolicy(), date(2030, 7, 1), NOW)
    load(store, tmp_path, records({"retain_until": "2031-06-30"}), datetime(2030, 7, 2))
    assert store.get_record("R-1")["retracted"] == 0
    assert retention.apply(store, RetentionPolicy(), date(2030, 9, 1), NOW).purged == []


def test_status_and_retention_list_what_expires_this_month(run, node_home, write_csv):
    path = write_csv(records({"retain_until": TODAY.isoformat()}, {"retain_until": "2099-01-01"}))
    assert run("--home", node_home, "import", path).exit_code == 0
    status = run("--home", node_home, "status")
    assert "retention:       1 records expire this month (R-1)" in status.output
    shown = run("--home", node_home, "retention")
    assert "due to expire now: 1 (R-1)" in shown.output
    assert "to purge now: 0" in shown.output


def test_what_expires_later_this_month_is_listed_before_it_is_due(store, tmp_path):
    load(store, tmp_path, records({"retain_until": "2030-06-30"}, {}), datetime(2030, 1, 1))
    report = retention.review(store, RetentionPolicy(), date(2030, 6, 12))
    assert report.expiring == [("R-1", date(2030, 6, 30))] and report.expired == []
    assert retention.review(store, RetentionPolicy(), date(2030, 5, 31)).expiring == []


def test_retention_apply_expires_what_is_due_and_says_so(run, node_home, write_csv):
    path = write_csv(records({"retain_until": (TODAY - timedelta(days=1)).isoformat()}, {}))
    run("--home", node_home, "import", path)
    result = run("--home", node_home, "retention", "--apply")
    assert result.exit_code == 0, result.stderr
    assert "expired: 1 (R-1)" in result.output
    conn = sqlite3.connect(node_home / "tafuta.db")
    try:
        assert conn.execute("SELECT retracted FROM records WHERE ref = 'R-1'").fetchone() == (1,)
    finally:
        conn.close()


def test_an_expired_record_is_retracted_at_the_peer_before_it_is_purged(tmp_path):
    regs = generate(10, 10, overlap=0.5, seed=4)
    missing = [dict(r) for r in regs.missing]
    missing[0]["retain_until"] = "2030-06-30"
    mesh = Mesh(tmp_path, {"A": missing, "B": regs.found}, [("A", "B")])
    ref = missing[0]["ref"]
    try:

        def exchange() -> None:
            mesh.fed["A"].prepare(mesh.peer("A", "B"))
            mesh.fed["B"].prepare(mesh.peer("B", "A"))
            for _ in range(4):
                mesh.carry("A", "B", queue=False)
                mesh.carry("B", "A", queue=False)

        def held_by_b() -> int:
            peer_id = mesh.peer("B", "A").id
            return (
                mesh.stores["B"]
                .conn.execute(
                    "SELECT count(*) FROM peer_records WHERE peer_id = ?",
                    (peer_id,),
                )
                .fetchone()[0]
            )

        exchange()
        assert held_by_b() == len(missing)
        policy = RetentionPolicy(days=None, grace_days=30)
        store = mesh.stores["A"]
        assert retention.apply(store, policy, date(2030, 7, 1), NOW).expired == [ref]
        late = date(2030, 9, 1)
        assert retention.review(store, policy, late).waiting == [ref]  # no retraction sent yet
        assert retention.apply(store, policy, late, NOW).purged == []
        exchange()
        assert held_by_b() == len(missing) - 1
        assert retention.apply(store, policy, late, NOW).purged == [ref]
        assert ref not in {r["ref"] for r in store.iter_records(include_retracted=True)}
    finally:
        mesh.close()


def test_a_served_node_applies_retention_on_its_own(network):
    from node.testing.processes import wait_until

    yesterday = (TODAY - timedelta(days=1)).isoformat()
    node = network("Kwale Rescue", records({"retain_until": yesterday}, {}))
    node.start(sync_interval=0.5)

    def retracted() -> bool:
        conn = sqlite3.connect(node.home / "tafuta.db")
        try:
            return conn.execute("SELECT retracted FROM records WHERE ref = 'R-1'").fetchone()[0]
        finally:
            conn.close()

    wait_until(retracted, timeout=30)
    node.stop()
    assert "Traceback" not in node.log.read_text(encoding="utf-8")


def test_serve_applies_retention_again_once_a_record_or_the_policy_changes(
    store, tmp_path, node_home
):
    """serve's rounds skip retention while nothing it reads changed (it reads every record)."""
    from node.server.serve import apply_retention

    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    load(store, tmp_path, records({"retain_until": tomorrow}, {}), datetime.now(UTC))
    home = open_home(node_home)
    checked = apply_retention(store, home)
    assert apply_retention(store, home, checked) == checked
    assert store.get_record("R-1")["retracted"] == 0
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    store.conn.execute("UPDATE records SET retain_until = ? WHERE ref = 'R-1'", (yesterday,))
    checked = apply_retention(store, home, checked)
    assert store.get_record("R-1")["retracted"] == 1
    configure(node_home, "[retention]\ndays = 1\n")
    changed_policy = apply_retention(store, open_home(node_home), checked)
    assert changed_policy != checked
