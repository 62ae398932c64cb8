"""The peers page shows a peer's alerts and key budget, and a coordinator changes the budget
there; a bad budget is refused and changes nothing. A real `tafuta serve` process."""

from __future__ import annotations

import sqlite3
import time

from keys import KdfParams
from node.home import open_home
from node.store.db import Store
from node.testing.web import WebClient
from node.trust.budgets import DEFAULT_KEY_BUDGET
from node.trust.identity import create_node, invite_token
from node.trust.peers import add_peer, peer_fingerprint, trust_peer


def budget_of(node, name: str) -> int | None:
    with sqlite3.connect(node.home / "tafuta.db") as conn:
        row = conn.execute(
            "SELECT b.keys FROM peer_budgets b JOIN peers p ON p.id = b.peer_id WHERE p.name = ?",
            (name,),
        ).fetchone()
    return row[0] if row else None


def test_peers_page_shows_alerts_and_budgets_and_a_bad_budget_changes_nothing(own_node, tmp_path):
    other = create_node(tmp_path / "other", name="Other NGO", passphrase="x" * 12,
                        kdf=KdfParams.cheap())  # fmt: skip
    home = open_home(own_node.home)
    with Store.open(home.database_path) as store:
        add_peer(home, store, invite_token(other), actor="test")
        trust_peer(home, store, "Other NGO", peer_fingerprint(home, store, "Other NGO"),
                   actor="test")  # fmt: skip
        peer_id = store.peer_by_name("Other NGO")["id"]
        detail = "asked to blind 9,999 new keys"
        store.record_peer_alert(peer_id, "over-budget", detail, int(time.time()))
    client = WebClient(own_node.url)
    client.login("juma")
    page = client.get("/peers")
    assert 'role="alert"' in page.body
    alert = page.body.split('role="alert"', 1)[1].split("</div>", 1)[0]
    assert "Other NGO" in alert and "over-budget" in alert
    assert f"0 / {DEFAULT_KEY_BUDGET:,}" in page.body
    token = page.csrf()
    for bad in ("-5", "lots", "1e6", "999999999999"):
        reply = client.post("/peers/budget", {"csrf": token, "name": "Other NGO", "budget": bad})
        assert reply.status == 400 and "nothing was changed" in reply.body
        assert budget_of(own_node, "Other NGO") == DEFAULT_KEY_BUDGET
    reply = client.post("/peers/budget", {"csrf": token, "name": "Other NGO", "budget": "1234"})
    assert reply.status == 303
    assert budget_of(own_node, "Other NGO") == 1234
