"""The network directory: signed profiles gossiped unchanged through peers, tampering refused,
trust shown plainly, search nearest district first, and the `tafuta directory` commands."""

from __future__ import annotations

import copy
import json
from datetime import date

import pytest

from matching import load_lexicon
from node.directory.districts import load_gazetteer
from node.directory.profile import Listing, edit_profile, listings, search_entries, today_utc
from node.testing.inprocess import Mesh
from protocol.envelope import new_message_id
from protocol.errors import BadPayload

PROFILE = {
    "name": "Kwale Rescue",
    "type": "ngo",
    "services": ["family-tracing", "shelter"],
    "regions": [{"country": "KE", "districts": ["Lunga Lunga", "Msambweni"]}],
    "languages": ["Swahili", "English"],
    "contact_person": "Amina Said",
    "phone": "+254 712 345678",
    "email": "help@kwale-rescue.example",
    "hours": "Mon-Fri 8:00-17:00",
}
NOW = 1_790_000_000  # 2026-09-21


def edit(mesh: Mesh, name: str, changes: dict, now: int = NOW) -> dict:
    fed = mesh.fed[name]
    return edit_profile(fed.store, fed.keyring, changes, now=now, today=today_utc(now))


def shown(mesh: Mesh, name: str) -> dict[str, Listing]:
    fed = mesh.fed[name]
    own = {fed.keyring.key_id}
    return {e.profile["name"]: e for e in listings(fed.store, date(2026, 10, 1), own)}


@pytest.fixture
def chain(tmp_path):
    """A — B — C: A and C are not peers of each other."""
    made = Mesh(tmp_path, {"A": [], "B": [], "C": []}, [("A", "B"), ("B", "C")])
    yield made
    made.close()


def test_a_profile_edited_on_a_reaches_c_through_b_with_a_signature_intact(chain):
    entry = edit(chain, "A", PROFILE)
    chain.gossip()
    on_c = shown(chain, "C")["Kwale Rescue"]
    assert on_c.signature == entry["sig"]
    assert on_c.origin == chain.fed["A"].keyring.key_id
    assert on_c.profile == entry["profile"]
    stored = json.loads(chain.stores["C"].directory_entry(on_c.origin)["entry"])
    assert stored == entry  # byte for byte what A signed


def test_c_shows_a_relayed_entry_as_not_verified_by_us_directly(chain):
    edit(chain, "A", PROFILE)
    chain.gossip()
    assert shown(chain, "B")["Kwale Rescue"].trust == "verified"
    on_c = shown(chain, "C")["Kwale Rescue"]
    assert on_c.trust == "relayed"
    assert on_c.trust_note == "relayed via Node B, not verified by us directly"
    assert shown(chain, "A")["Kwale Rescue"].trust == "own"


def test_a_newer_version_replaces_the_older_everywhere(chain):
    edit(chain, "A", PROFILE)
    chain.gossip()
    edit(chain, "A", {"hours": "24 hours"}, now=NOW + 60)
    chain.gossip()
    on_c = shown(chain, "C")["Kwale Rescue"]
    assert (on_c.version, on_c.profile["hours"]) == (2, "24 hours")


def test_an_older_version_arriving_late_changes_nothing(chain):
    edit(chain, "A", PROFILE)
    peer = chain.peer("A", "B")
    chain.fed["A"].prepare_shared(peer)
    old = chain.stores["A"].pending_messages(peer.id)
    chain.stores["A"].conn.execute("DELETE FROM outbox")
    edit(chain, "A", {"hours": "24 hours"}, now=NOW + 60)
    chain.gossip()
    before = chain.stores["B"].directory_snapshot()
    fed_a = chain.fed["A"]
    late = next(m for m in old if m["type"] == "directory-entry")
    fed_b = chain.fed["B"]
    fed_b.receive(fed_a.seal_for(peer, new_message_id(), "directory-entry", late["payload"]))
    assert shown(chain, "B")["Kwale Rescue"].version == 2
    assert chain.stores["B"].directory_snapshot() == before


def test_gossip_in_a_triangle_ends(tmp_path):
    mesh = Mesh(tmp_path, {"A": [], "B": [], "C": []}, [("A", "B"), ("B", "C"), ("C", "A")])
    try:
        edit(mesh, "A", PROFILE)
        mesh.gossip(rounds=3)
        assert mesh.gossip(rounds=2) == 0  # nothing left to send: the flood ended
        assert {
            e.trust for e in [shown(mesh, "B")["Kwale Rescue"], shown(mesh, "C")["Kwale Rescue"]]
        } == {"verified"}
    finally:
        mesh.close()


def _tamper_profile(payload, _mesh):
    payload["entry"]["profile"]["phone"] = "+254 700 000000"


def _tamper_version(payload, _mesh):
    payload["entry"]["version"] += 1


def _swap_document(payload, mesh):
    payload["document"] = mesh.fed["B"].keyring.document.to_json().decode()


def _claim_other_origin(payload, mesh):
    payload["entry"]["origin"] = mesh.fed["B"].keyring.key_id
    payload["document"] = mesh.fed["B"].keyring.document.to_json().decode()


def _bad_signature(payload, _mesh):
    sig = payload["entry"]["sig"]
    payload["entry"]["sig"] = ("A" if sig[0] != "A" else "B") + sig[1:]


def _bad_field(payload, _mesh):
    payload["entry"]["profile"]["services"] = ["flying"]


@pytest.mark.parametrize(
    "tamper",
    [
        _tamper_profile,
        _tamper_version,
        _swap_document,
        _claim_other_origin,
        _bad_signature,
        _bad_field,
    ],
    ids=["profile", "version", "document", "origin", "signature", "schema"],
)
def test_a_tampered_entry_is_refused_and_changes_nothing(chain, tamper):
    edit(chain, "A", PROFILE)
    chain.carry("A", "B")
    fed_b, peer_c = chain.fed["B"], chain.peer("B", "C")
    payload = fed_b.store.directory_entries()[0]
    payload = {"entry": json.loads(payload["entry"]), "document": payload["document"]}
    tampered = copy.deepcopy(payload)
    tamper(tampered, chain)
    before = chain.stores["C"].directory_snapshot()
    processed = chain.stores["C"].conn.execute("SELECT count(*) FROM processed").fetchone()
    body = fed_b.seal_for(peer_c, new_message_id(), "directory-entry", tampered)
    with pytest.raises(BadPayload):
        chain.fed["C"].receive(body)
    assert chain.stores["C"].directory_snapshot() == before
    assert chain.stores["C"].conn.execute("SELECT count(*) FROM processed").fetchone() == processed


def test_entries_of_a_revoked_origin_are_neither_shown_nor_passed_on(chain):
    from node.trust.peers import revoke_peer

    edit(chain, "A", PROFILE)
    chain.carry("A", "B")
    revoke_peer(chain.stores["B"], "Node A", "left the network", actor="test")
    assert "Kwale Rescue" not in shown(chain, "B")
    chain.carry("B", "C")
    assert chain.stores["C"].directory_entries() == []


def test_an_entry_not_verified_for_six_months_is_flagged(chain):
    edit(chain, "A", PROFILE | {"last_verified": "2026-01-15"})
    assert shown(chain, "A")["Kwale Rescue"].stale
    edit(chain, "A", {"last_verified": "2026-09-01"})
    assert not shown(chain, "A")["Kwale Rescue"].stale


# -- search -------------------------------------------------------------------------------


def listing(
    name: str,
    districts: list[str],
    services=("family-tracing",),
    country="KE",
    languages=("Swahili",),
) -> Listing:
    profile = PROFILE | {
        "name": name,
        "services": list(services),
        "regions": [{"country": country, "districts": districts}],
        "languages": list(languages),
        "last_verified": "2026-09-01",
    }
    return Listing(profile, "x" * 22, name, 1, 0, "sig", "verified", None, False)


@pytest.fixture(scope="module")
def gazetteer():
    return load_gazetteer(load_lexicon())


def test_search_ranks_the_district_then_its_county_then_the_nearest(gazetteer):
    entries = [
        listing("Nairobi Help", ["Nairobi"]),
        listing("Tanga Tracing", ["Mkinga"], country="TZ"),
        listing("Msambweni Desk", ["Msambweni"]),
        listing("Lunga Lunga Centre", ["Lunga-Lunga"]),
        listing("Kwale County Office", ["Kwale"]),
        listing("Somewhere Unknown", ["Atlantis"]),
        listing("Shelter Only", ["Lunga Lunga"], services=("shelter",)),
    ]
    hits = search_entries(
        entries, gazetteer, service="family tracing", district="Lunga Lunga, Kwale"
    )
    assert [h.listing.profile["name"] for h in hits] == [
        "Lunga Lunga Centre",
        "Kwale County Office",
        "Tanga Tracing",  # Mkinga, across the border, is nearer than Msambweni
        "Msambweni Desk",
        "Nairobi Help",
        "Somewhere Unknown",
    ]
    assert hits[2].distance_km < hits[3].distance_km < hits[4].distance_km


def test_search_falls_back_on_the_county_when_the_district_is_unknown(gazetteer):
    entries = [listing("Nairobi Help", ["Nairobi"]), listing("Kinango Help", ["Kinango"])]
    hits = search_entries(entries, gazetteer, district="Vanga, Kwale")
    assert [h.listing.profile["name"] for h in hits] == ["Kinango Help", "Nairobi Help"]


def test_search_filters_by_language_ignoring_case(gazetteer):
    entries = [listing("A", ["Kwale"]), listing("B", ["Kwale"], languages=("French",))]
    assert [
        h.listing.profile["name"] for h in search_entries(entries, gazetteer, language="french")
    ] == ["B"]


# -- the commands -------------------------------------------------------------------------


def edit_args(profile: dict) -> list[str]:
    args = ["--name", profile["name"], "--type", profile["type"]]
    args += [a for s in profile["services"] for a in ("--service", s)]
    args += [
        a
        for r in profile["regions"]
        for a in ("--region", f"{r['country']}:{','.join(r['districts'])}")
    ]
    args += [a for x in profile["languages"] for a in ("--language", x)]
    return [*args, "--phone", profile["phone"], "--email", profile["email"]]


def test_edit_show_search_and_export_from_the_command_line(run, node_home, tmp_path):
    result = run("--home", node_home, "directory", "edit", *edit_args(PROFILE))
    assert result.exit_code == 0, result.output
    shown_json = json.loads(run("--home", node_home, "directory", "show", "--json").output)
    assert shown_json["name"] == "Kwale Rescue" and shown_json["trust"] == "own"
    out = run(
        "--home",
        node_home,
        "directory",
        "search",
        "--service",
        "family-tracing",
        "--district",
        "Lunga Lunga, Kwale",
    ).output
    assert "Kwale Rescue" in out and "1 organisation" in out
    for fmt in ("json", "csv"):
        target = tmp_path / f"dir.{fmt}"
        result = run("--home", node_home, "directory", "export", target, "--format", fmt)
        assert result.exit_code == 0
        assert "Kwale Rescue" in target.read_text(encoding="utf-8")
    header = (tmp_path / "dir.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("name,type,services,regions,languages")


@pytest.mark.parametrize("suffix", ["toml", "json"])
def test_edit_reads_a_profile_file(run, node_home, tmp_path, suffix):
    path = tmp_path / f"profile.{suffix}"
    if suffix == "json":
        path.write_text(json.dumps(PROFILE), encoding="utf-8")
    else:
        path.write_text(
            'name = "Kwale Rescue"\ntype = "ngo"\nservices = ["family tracing"]\n'
            'languages = ["Swahili"]\nphone = "+254 712 345678"\n'
            '[[regions]]\ncountry = "KE"\ndistricts = ["Lunga Lunga"]\n',
            encoding="utf-8",
        )
    assert run("--home", node_home, "directory", "edit", "--from-file", path).exit_code == 0
    shown_json = json.loads(run("--home", node_home, "directory", "show", "--json").output)
    assert "family-tracing" in shown_json["services"]


BAD_EDITS = [
    (["--name", "X"], "type is required"),
    (["--type", "spaceship"], "not one of"),
    (["--service", "flying"], "unknown services"),
    (["--region", "Kwale"], "COUNTRY:DISTRICT"),
    (["--region", "Kenya:Kwale"], "two-letter ISO code"),
    (["--email", "not-an-address"], "not an e-mail address"),
    (["--phone", "call me"], "is not a phone number"),
    (["--verified-on", "2026-13-40"], "not a date"),
    (["--verified-on", "2999-01-01"], "in the future"),
    (["--name", "Evil\u202eName"], "one line of 1 to"),
    (["--from-file", "missing.toml"], "cannot read"),
    (["--from-file", "profile.txt"], "ends in .toml or .json"),
    ([], "give at least one field"),
]


@pytest.mark.parametrize(("args", "expected"), BAD_EDITS, ids=[e for _, e in BAD_EDITS])
def test_bad_edits_are_refused_clearly_and_change_nothing(run, node_home, tmp_path, args, expected):
    base = list(edit_args(PROFILE)) if args and args[0] != "--name" else []
    (tmp_path / "profile.txt").write_text("x", encoding="utf-8")
    from node.store.db import Store

    if base:
        assert run("--home", node_home, "directory", "edit", *base).exit_code == 0
    with Store.open(node_home / "tafuta.db") as store:
        before = store.directory_snapshot()
    args = [str(tmp_path / a) if a.endswith((".toml", ".txt")) else a for a in args]
    result = run("--home", node_home, "directory", "edit", *args)
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    with Store.open(node_home / "tafuta.db") as store:
        assert store.directory_snapshot() == before


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["search", "--service", "flying"], "unknown service"),
        (["search", "--district", " "], "needs a district"),
        (["show"], "no directory profile yet"),
        (["export", "out.txt", "--format", "xml"], "Invalid value"),
        (["export", "no-such-folder/out.json"], "cannot write"),
    ],
    ids=["service", "district", "no-profile", "format", "unwritable"],
)
def test_bad_directory_commands_give_one_clear_error(run, node_home, tmp_path, args, expected):
    args = [str(tmp_path / a) if "/" in a else a for a in args]
    result = run("--home", node_home, "directory", *args)
    assert result.exit_code == 2
    assert expected in result.output and "Traceback" not in result.output


def test_the_directory_travels_in_a_bundle(chain, tmp_path):
    """Peers without a network path get entries in the bundle file too."""
    from node.federation.bundle import export_bundle, import_bundle

    edit(chain, "A", PROFILE)
    export_bundle(chain.fed["A"], chain.peer("A", "B"), tmp_path / "a-to-b.tafuta")
    report = import_bundle(chain.fed["B"], tmp_path / "a-to-b.tafuta")
    assert report.applied >= 1 and not report.refused
    assert shown(chain, "B")["Kwale Rescue"].trust == "verified"


@pytest.mark.slow
def test_a_profile_edited_with_the_cli_on_a_reaches_c_through_b_in_bundles(network, tmp_path):
    """The whole path with real `tafuta` processes: edit on A, bundles A→B and B→C."""
    from node.testing.processes import pair as pair_nodes

    a, b, c = network("Node A"), network("Node B"), network("Node C")
    pair_nodes(a, b)
    pair_nodes(b, c)
    a.tafuta("directory", "edit", *edit_args(PROFILE))
    a.tafuta("bundle", "export", "--peer", "Node B", tmp_path / "ab.tafuta")
    b.tafuta("bundle", "import", tmp_path / "ab.tafuta")
    b.tafuta("bundle", "export", "--peer", "Node C", tmp_path / "bc.tafuta")
    c.tafuta("bundle", "import", tmp_path / "bc.tafuta")
    own = json.loads(a.tafuta("directory", "show", "--json").stdout)
    hits = json.loads(
        c.tafuta(
            "directory",
            "search",
            "--service",
            "family-tracing",
            "--district",
            "Msambweni",
            "--json",
        ).stdout
    )
    assert [h["name"] for h in hits] == ["Kwale Rescue"]
    assert hits[0]["signature"] == own["signature"]
    assert hits[0]["trust_note"] == "relayed via Node B, not verified by us directly"
    assert hits[0]["match"] == "district"
