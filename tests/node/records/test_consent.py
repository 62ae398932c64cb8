"""Consent per record: a record without consent to be matched never leaves the node in any form
(no keys, no pseudonym, not in the shared statistics), and withdrawing consent retracts it at
every peer; the import column, the node's default, the preview counts and the audit log."""

from __future__ import annotations

import sqlite3

import pytest

from matching.synthetic import generate
from node.records.importer import apply_import, plan_import
from node.store.db import Store
from node.testing.inprocess import Mesh
from node.testing.processes import write_register

VALID = {"ref": "A-1", "kind": "missing", "given_names": "Zawadi", "family_name": "Kahindi"}


def stored(home, ref: str) -> dict:
    with Store.open(home / "tafuta.db") as store:
        return store.get_record(ref)


@pytest.mark.parametrize(
    ("written", "default", "match"),
    [
        ("yes", "yes", "yes"),
        ("no", "yes", "no"),
        ("Ndiyo", "no", "yes"),
        ("HAPANA", "yes", "no"),
        ("", "yes", None),
        ("", "no", "no"),
    ],
)
def test_the_consent_column_or_the_nodes_default_decides(
    run, node_home, write_csv, written, default, match
):
    with (node_home / "config.toml").open("a", encoding="utf-8") as out:
        out.write(f'[consent]\nmatch = "{default}"\n')
    result = run("--home", node_home, "import", write_csv([{**VALID, "consent_match": written}]))
    assert result.exit_code == 0, result.stderr
    assert stored(node_home, "A-1")["consent_match"] == match


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"consent_match": "maybe"}, "consent_match: 'maybe' is not yes or no"),
        ({"consent_contact": "later"}, "consent_contact: 'later' is not yes or no"),
        ({"retain_until": "2027"}, "retain_until: '2027' is not a full date"),
    ],
)
def test_a_consent_that_is_not_yes_or_no_is_refused(run, node_home, write_csv, row, message):
    result = run("--home", node_home, "import", write_csv([{**VALID, **row}]))
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    with Store.open(node_home / "tafuta.db") as store:
        assert store.count_records() == 0


def test_a_bad_consent_default_in_the_config_is_one_clear_error(run, node_home, write_csv):
    with (node_home / "config.toml").open("a", encoding="utf-8") as out:
        out.write('[consent]\nmatch = "perhaps"\n')
    result = run("--home", node_home, "import", write_csv([VALID]))
    assert result.exit_code != 0
    assert result.stderr.startswith("error: ") and "[consent] match" in result.stderr


def test_a_change_of_consent_is_in_the_audit_log(run, node_home, write_csv):
    run("--home", node_home, "import", write_csv([VALID]))
    run("--home", node_home, "import", write_csv([{**VALID, "consent_match": "no"}], "v2.csv"))
    conn = sqlite3.connect(node_home / "tafuta.db")
    try:
        rows = conn.execute(
            "SELECT action, subject, detail FROM audit_log WHERE action = 'record-consent'"
        ).fetchall()
    finally:
        conn.close()
    assert rows == [("record-consent", "A-1", "match with peers: yes -> no")]


def pseudonyms(mesh: Mesh, at: str, peer: str) -> dict[str, str | None]:
    peer_id = mesh.peer(at, peer).id
    rows = mesh.stores[at].conn.execute(
        "SELECT ref, keys_digest FROM pseudonyms WHERE peer_id = ?", (peer_id,)
    )
    return dict(rows.fetchall())


def received(mesh: Mesh, at: str, peer: str) -> int:
    peer_id = mesh.peer(at, peer).id
    return (
        mesh.stores[at]
        .conn.execute("SELECT count(*) FROM peer_records WHERE peer_id = ?", (peer_id,))
        .fetchone()[0]
    )


def exchange(mesh: Mesh) -> None:
    for name in ("A", "B"):
        mesh.fed[name].prepare(mesh.peer(name, "B" if name == "A" else "A"))
    for _ in range(4):
        mesh.carry("A", "B", queue=False)
        mesh.carry("B", "A", queue=False)


@pytest.fixture
def mesh(tmp_path):
    regs = generate(12, 12, overlap=0.5, seed=3)
    missing = [dict(r) for r in regs.missing]
    missing[0]["consent_match"] = "no"
    made = Mesh(tmp_path, {"A": missing, "B": regs.found}, [("A", "B")])
    made.refs = [r["ref"] for r in missing]
    made.register = missing
    yield made
    made.close()


def test_a_record_without_consent_never_leaves_the_node(mesh):
    exchange(mesh)
    sent = pseudonyms(mesh, "A", "B")
    assert mesh.refs[0] not in sent
    assert set(sent) == set(mesh.refs[1:])
    assert received(mesh, "B", "A") == len(mesh.refs) - 1


def test_withdrawing_consent_retracts_the_record_at_the_peer(mesh, tmp_path):
    exchange(mesh)
    before = received(mesh, "B", "A")
    withdrawn = [dict(r) for r in mesh.register]
    withdrawn[1]["consent_match"] = "no"
    store = mesh.stores["A"]
    plan = plan_import(write_register(tmp_path / "withdrawn.csv", withdrawn), store)
    assert plan.counts["updated"] == 1 and plan.not_matched == 2
    assert plan.consent_changes == [(mesh.refs[1], "match with peers: yes -> no")]
    apply_import(plan, store)
    exchange(mesh)
    assert pseudonyms(mesh, "A", "B")[mesh.refs[1]] is None  # retraction sent
    assert received(mesh, "B", "A") == before - 1


def test_a_record_without_consent_is_left_out_of_the_statistics(mesh):
    facts = {f["ref"] for f in mesh.stores["A"].record_facts()}
    assert mesh.refs[0] not in facts and mesh.refs[1] in facts


def caseworker(store: Store, name: str) -> dict:
    from node.accounts.users import Profile, add_user, cheap_hasher

    profile = Profile(f"{name.title()} Caseworker", "NGO", "+254 700 000 000", f"{name}@x.org")
    user_id = add_user(store, name, "caseworker", "a long password here", profile,
                       actor="test", now=1_800_000_000, hasher=cheap_hasher())  # fmt: skip
    return store.user_by_id(user_id)


def test_without_consent_to_hand_over_the_contact_none_is_sent_after_both_confirm(tmp_path):
    from node.review import rules as review

    regs = generate(12, 12, overlap=0.6, seed=8)
    mesh = Mesh(tmp_path, {"A": [{**r, "consent_contact": "no"} for r in regs.missing],
                           "B": regs.found}, [("A", "B")])  # fmt: skip
    try:
        exchange(mesh)
        for name, other in (("A", "B"), ("B", "A")):
            mesh.fed[name].rescore(mesh.peer(name, other), force=True)
        for sender, receiver in (("A", "B"), ("B", "A")):  # the evaluating node's notices
            mesh.carry(sender, receiver, queue=False)
        match_id = mesh.stores["A"].list_matches()[0]["match_id"]
        users = {n: caseworker(mesh.stores[n], f"user{n.lower()}") for n in ("A", "B")}
        for name in ("A", "B"):
            review.decide(mesh.stores[name], match_id, "confirm", "same person", users[name],
                          1_800_000_000)  # fmt: skip
        for _ in range(3):
            mesh.carry("A", "B", queue=False)
            mesh.carry("B", "A", queue=False)
        a, b = mesh.stores["A"].match(match_id), mesh.stores["B"].match(match_id)
        assert a["peer_decision"] == b["peer_decision"] == "confirm"
        assert b["peer_contact"] is None  # A's caseworker is not handed over
        assert review.peer_contact(a)["name"] == "Userb Caseworker"  # B's still is
    finally:
        mesh.close()
