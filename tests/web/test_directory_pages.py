"""The directory and statistics pages over real HTTP, on a served node whose directory holds
its peer's entry (verified) and two entries relayed through that peer (one stale)."""

from __future__ import annotations

import asyncio
import csv
import html
import io
import json
import re
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from importlib import resources

import pytest
from aiohttp import web

from keys import KdfParams
from node.accounts.users import hasher_from_config
from node.directory.profile import edit_profile, today_utc
from node.home import open_home
from node.runtime import node_lexicon
from node.store.db import Store
from node.testing.inprocess import Mesh
from node.testing.processes import PASSPHRASE, SAMPLE, Node, free_port
from node.testing.web import WebClient, add_users
from node.trust.identity import create_node, now_seconds
from node.web.app import add_ui
from node.web.context import WebContext
from protocol.directory import ORGANISATION_TYPES, SERVICES

K = 10  # the default smallest published count
PEERS = {
    "B": {"name": "Kwale Rescue", "district": "Lunga Lunga", "languages": ["Swahili", "English"]},
    "C": {"name": "Coast Family Desk", "district": "Mombasa", "languages": ["Swahili"]},
    "D": {"name": "Malindi Tracing", "district": "Malindi", "languages": ["English"],
          "last_verified": "2025-01-02"},
}  # fmt: skip


def profile(spec: dict) -> dict:
    return {
        "name": spec["name"],
        "type": "ngo",
        "services": ["family-tracing"],
        "regions": [{"country": "KE", "districts": [spec["district"]]}],
        "languages": spec["languages"],
        "phone": "+254 712 345678",
        **({"last_verified": spec["last_verified"]} if "last_verified" in spec else {}),
    }


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """W, served, trusts B; B passed on C's and D's entries (W does not know C or D)."""
    root = tmp_path_factory.mktemp("dirpages")
    mesh = Mesh(root, {"W": [], "B": [], "C": [], "D": []}, [("W", "B"), ("B", "C"), ("B", "D")])
    now = now_seconds()
    for name, spec in PEERS.items():
        fed = mesh.fed[name]
        edit_profile(fed.store, fed.keyring, profile(spec), now=now, today=today_utc(now))
    mesh.gossip()
    mesh.close()
    secret = root / "passphrase.txt"
    secret.write_text(PASSPHRASE + "\n", encoding="utf-8")
    served = Node("Node W", mesh.homes["W"].path, secret, free_port(), root / "w.log")
    served.tafuta("import", SAMPLE)
    add_users(served.home)
    served.start(sync_interval=3600)
    yield served
    served.stop()


@pytest.fixture
def client(node) -> WebClient:
    return WebClient(node.url)


def own_versions(node) -> list[int]:
    db = sqlite3.connect(node.home / "tafuta.db")
    try:
        sql = "SELECT version FROM directory_entries WHERE via_peer_id IS NULL"
        return [row[0] for row in db.execute(sql)]
    finally:
        db.close()


def names_in_order(body: str) -> list[str]:
    return [html.unescape(n) for n in re.findall(r"<h2>(.*?) <small>", body)]


class TestSearch:
    def test_results_are_ranked_nearest_district_first(self, client):
        """Ukunda: nobody serves it; Mombasa (~26 km) before Lunga Lunga (~50 km) before
        Malindi (~130 km), each with its nearest district and distance."""
        client.login("amina")
        reply = client.get("/directory?service=family-tracing&district=Ukunda")
        assert reply.status == 200
        assert names_in_order(reply.body) == [
            "Coast Family Desk",
            "Kwale Rescue",
            "Malindi Tracing",
        ]
        assert "Nearest district served: Mombasa, about" in reply.body

    def test_the_district_itself_comes_first_and_trust_is_shown(self, client):
        client.login("amina")
        body = client.get("/directory?service=family-tracing&district=Lunga+Lunga%2C+Kwale").body
        assert names_in_order(body)[0] == "Kwale Rescue"
        assert "Serves Lunga Lunga" in body
        assert "verified: a trusted peer of this node" in body
        assert "relayed via Node B, not verified by us directly" in body

    def test_a_stale_entry_is_flagged(self, client):
        client.login("amina")
        body = client.get("/directory?language=english").body
        assert names_in_order(body) == ["Kwale Rescue", "Malindi Tracing"]
        assert body.count("Not verified for over 6 months") == 1
        assert "last on 2025-01-02" in body

    def test_an_unknown_service_is_refused_in_place(self, client):
        client.login("amina")
        reply = client.get("/directory?service=juggling")
        assert reply.status == 400
        assert "unknown service" in reply.body

    def test_the_page_speaks_swahili(self, node):
        client = WebClient(node.url)
        client.login("juma")
        token = client.get("/directory").csrf()
        client.post("/language", {"csrf": token, "language": "sw", "next": "/directory"})
        body = client.get("/directory?service=family-tracing").body
        assert "Orodha ya mashirika" in body and "kutafuta familia" in body
        client.post("/language", {"csrf": token, "language": "en", "next": "/directory"})


class TestExport:
    def test_json_export_downloads_every_entry(self, client):
        client.login("amina")
        reply = client.get("/directory/export.json")
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("application/json")
        assert 'attachment; filename="directory.json"' in reply.headers["Content-Disposition"]
        rows = json.loads(reply.body)
        trust = {r["name"]: r["trust"] for r in rows}
        assert trust["Kwale Rescue"] == "verified"
        assert trust["Coast Family Desk"] == trust["Malindi Tracing"] == "relayed"

    def test_csv_export_of_verified_entries_leaves_relayed_ones_out(self, client):
        client.login("amina")
        reply = client.get("/directory/export.csv?verified_only=1")
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/csv")
        assert "directory-verified.csv" in reply.headers["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(reply.body)))
        assert "Kwale Rescue" in {r["name"] for r in rows}
        assert all(r["trust"] != "relayed" for r in rows)
        assert rows[0]["phone"] == "'+254 712 345678"  # no spreadsheet formula

    def test_an_anonymous_visitor_cannot_download(self, node):
        reply = WebClient(node.url).get("/directory/export.json")
        assert reply.status == 303


PROFILE_FORM = {
    "name": "Web Test Shelter",
    "type": "shelter",
    "services": "shelter",
    "regions": "KE: Kilifi, Watamu",
    "languages": "Swahili, Giriama",
    "phone": "+254 700 000 111",
    "email": "",
    "contact_person": "Neema M.",
    "hours": "24h",
    "last_verified": "",
}


class TestProfileEdit:
    @pytest.mark.parametrize("method", ["GET", "POST"])
    def test_a_caseworker_cannot_open_or_post_the_edit_page(self, node, client, method):
        client.login("amina")
        before = own_versions(node)
        if method == "GET":
            reply = client.get("/directory/edit")
        else:
            token = client.get("/directory").csrf()
            reply = client.post("/directory/edit", {"csrf": token, **PROFILE_FORM})
        assert reply.status == 403
        assert own_versions(node) == before

    def test_an_admin_saves_the_profile_and_it_shows_in_search(self, node, client):
        client.login("neema")
        token = client.get("/directory/edit").csrf()
        reply = client.post("/directory/edit", {"csrf": token, **PROFILE_FORM})
        assert reply.status == 303, reply.body[:2000]
        page = client.get(reply.headers["Location"]).body
        assert "Saved version" in page
        assert "Watamu" in page  # not in the districts list: said so
        found = client.get("/directory?service=shelter&district=Kilifi").body
        assert names_in_order(found) == ["Web Test Shelter"]
        assert "own: this node&#39;s entry" in found
        exported = json.loads(client.get("/directory/export.json").body)
        own = next(r for r in exported if r["trust"] == "own")
        assert own["services"] == ["shelter"] and own["languages"] == ["Swahili", "Giriama"]
        assert own["last_verified"] == today_utc(now_seconds()).isoformat()

    @pytest.mark.parametrize(
        ("changes", "messages"),
        [
            ({"phone": "call us", "email": ""}, ["phone &#39;call us&#39; is not a phone"]),
            ({"services": "", "name": ""}, ["services is required", "name is required"]),
            ({"regions": "Kwale and Kilifi"}, ["is not COUNTRY:DISTRICT"]),
            ({"last_verified": "2999-01-01"}, ["is in the future"]),
            ({"type": "bakery"}, ["type &#39;bakery&#39; is not one of"]),
        ],
    )
    def test_a_bad_profile_form_shows_the_problems_and_changes_nothing(
        self, node, client, changes, messages
    ):
        client.login("neema")
        before = own_versions(node)
        token = client.get("/directory/edit").csrf()
        reply = client.post("/directory/edit", {"csrf": token, **PROFILE_FORM, **changes})
        assert reply.status == 400
        assert "The profile was refused; nothing was changed" in reply.body
        for message in messages:
            assert message in reply.body
            # shown in place too: under its field, not only in the list at the top
            assert re.search(r'class="error field-problem">[^<]*' + re.escape(message), reply.body)
        assert own_versions(node) == before

    @pytest.mark.parametrize(("case", "token", "origin"), [
        ("no token", None, "self"), ("another site", "valid", "https://evil.example")])  # fmt: skip
    def test_the_edit_form_without_csrf_is_refused(self, node, client, case, token, origin):
        client.login("neema")
        before = own_versions(node)
        data = dict(PROFILE_FORM, name="Forged Name")
        if token:
            data["csrf"] = client.get("/directory/edit").csrf()
        reply = client.post("/directory/edit", data, origin=origin)
        assert reply.status == 403, case
        assert own_versions(node) == before


def published_counts(body: str) -> list[int]:
    """Every count the statistics page shows, in its tables and on its bars."""
    cells = re.findall(r'<td class="n [^"]*">(.*?)</td>', body)
    cells += re.findall(r'<span class="bar-value">(.*?)</span>', body)
    counts = []
    for cell in cells:
        if "hidden" in cell:
            continue
        counts.append(int(html.unescape(cell).replace("≥", "").strip()))
    return counts


class TestStatistics:
    @pytest.mark.parametrize("view", ["", "?view=network"])
    def test_no_count_between_1_and_k_minus_1_is_ever_shown(self, client, view):
        client.login("amina")
        reply = client.get("/stats" + view)
        assert reply.status == 200
        counts = published_counts(reply.body)
        assert counts, "the page shows counts"
        assert not [c for c in counts if 1 <= c < K]
        assert 'class="hidden-count"' in reply.body  # 21 records: small cells exist

    def test_the_network_view_names_the_peers_it_sums(self, client):
        client.login("amina")
        body = client.get("/stats?view=network").body
        assert "Summed from: this node, Node B" in body
        assert 'aria-current="page">Network' in body

    def test_bars_use_width_classes_not_inline_styles(self, client):
        client.login("amina")
        body = client.get("/stats").body
        assert "style=" not in body
        assert re.search(r'class="bar bar-(missing|found|total) w-[1-9][0-9]*"', body)


@pytest.mark.parametrize("text", sorted({*SERVICES, *ORGANISATION_TYPES, "age_band",
    "year_reported", "status", "total", "unknown", "other", "open", "matched", "reunited", "F",
    "M", "X"}))  # fmt: skip
def test_every_directory_and_statistics_label_has_a_swahili_translation(text):
    swahili = json.loads(resources.files("node.web").joinpath("locale/sw.json").read_text("utf-8"))
    assert swahili.get(text), f"no Swahili for {text!r}"


@pytest.fixture
def keyless(tmp_path):
    """The UI on a real server started without the node's keys (WebContext.keyring None)."""
    home = create_node(tmp_path / "k", name="Keyless", passphrase=PASSPHRASE, kdf=KdfParams.cheap())
    add_users(home.path)
    home = open_home(home.path)
    with Store.open(home.database_path):
        pass
    app = web.Application()
    ctx = WebContext(home=home, hasher=hasher_from_config(home.config), lexicon=node_lexicon(home),
                     executor=ThreadPoolExecutor(1))  # fmt: skip
    add_ui(app, ctx)
    runner, port, loop = web.AppRunner(app), free_port(), asyncio.new_event_loop()
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(10)
    yield f"http://127.0.0.1:{port}", home
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def test_without_the_keys_the_edit_page_says_so_and_saves_nothing(keyless):
    url, home = keyless
    client = WebClient(url)
    client.login("neema")
    page = client.get("/directory/edit")
    assert page.status == 200 and 'id="no-keys"' in page.body
    reply = client.post("/directory/edit", {"csrf": page.csrf(), **PROFILE_FORM})
    assert reply.status == 503
    assert "cannot sign the profile" in reply.body
    with Store.open(home.database_path) as store:
        assert store.own_directory_entry() is None
