"""Statistics: the status mapping, suppressed tables of a real store (no count in 1..k−1, no
hidden count derivable), tables shared between nodes and summed, refusals, and `tafuta stats`."""

from __future__ import annotations

import json

import pytest

from matching import load_lexicon
from matching.synthetic import generate
from node.directory.districts import load_gazetteer
from node.directory.stats import age_band, own_stats, record_status, sum_published, year_reported
from node.testing.inprocess import Mesh
from node.testing.oracles import determined_by_linear_algebra, learned_by_peeling
from protocol.envelope import new_message_id
from protocol.errors import BadPayload

NOW = 1_790_000_000


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], "open"),
        (["suggested", "rejected"], "open"),
        (["withdrawn", "unsure"], "open"),
        (["suggested", "confirmed"], "matched"),
        (["contact exchanged"], "matched"),
        (["confirmed", "closed-reunited"], "reunited"),
    ],
)
def test_a_record_status_comes_from_its_matches(statuses, expected):
    assert record_status(statuses) == expected


@pytest.mark.parametrize(
    ("record", "band"),
    [
        ({"age": "15"}, "12-17"),
        ({"age": "abc"}, "unknown"),
        ({"birth_date": "2000-05-01", "imported_at": "2026-01-01T00:00:00"}, "25-34"),
        ({}, "unknown"),
        ({"age": "70"}, "50+"),
    ],
)
def test_age_bands(record, band):
    assert age_band(record) == band


@pytest.mark.parametrize(
    ("record", "year"),
    [
        ({"last_seen_date": "2019-05-02", "imported_at": "2026-01-01T00:00:00"}, "2019"),
        ({"last_seen_date": "2021", "imported_at": "2026-01-01T00:00:00"}, "2021"),
        ({"last_seen_date": None, "imported_at": "2026-01-01T00:00:00"}, "unknown"),
    ],
)
def test_year_reported_comes_from_the_record_not_the_import_date(record, year):
    assert year_reported(record) == year


@pytest.fixture(scope="module")
def gazetteer():
    return load_gazetteer(load_lexicon())


@pytest.fixture
def pair(tmp_path):
    regs = generate(70, 40, overlap=0.3, seed=5)
    made = Mesh(tmp_path, {"A": regs.missing + regs.found, "B": regs.missing[:25]}, [("A", "B")])
    yield made
    made.close()


def grid_of(table: dict) -> list[list[int | None]]:
    rows = [[*c, t] for c, t in zip(table["cells"], table["row_totals"], strict=True)]
    return [*rows, [*table["column_totals"], table["total"]]]


@pytest.mark.parametrize("k", [3, 10, 25])
def test_published_tables_have_no_small_cell_and_no_derivable_cell(pair, gazetteer, k):
    published = own_stats(pair.stores["A"], gazetteer, k=k, now=NOW)
    assert {t["name"] for t in published["tables"]} == {
        "sex",
        "age_band",
        "origin_district",
        "year_reported",
        "status",
    }
    for table in published["tables"]:
        shown = grid_of(table)
        assert all(v is None or v == 0 or v >= k for row in shown for v in row), table
        assert learned_by_peeling(shown) == set(), table
        assert determined_by_linear_algebra(shown) == set(), table
    assert published["tables"][0]["total"] == 110


def confirm_twelve(store, peer_id: int) -> None:
    """A confirmed match with the peer for each of the store's first twelve records."""
    refs = [r["ref"] for r in store.record_facts()][:12]
    store.conn.executemany(
        "INSERT INTO matches (match_id, peer_id, local_ref, local_pseudonym, peer_pseudonym, "
        "score, evidence, status, created_at, updated_at) VALUES (?, ?, ?, 'p', 'q', 1, '', "
        "'confirmed', 0, 0)",
        [(f"{i:032x}", peer_id, ref) for i, ref in enumerate(refs)],
    )


def test_a_confirmed_match_moves_a_record_from_open_to_matched(pair, gazetteer):
    store = pair.stores["A"]
    confirm_twelve(store, pair.peer("A", "B").id)
    status = next(
        t for t in own_stats(store, gazetteer, k=10, now=NOW)["tables"] if t["name"] == "status"
    )
    assert status["row_totals"][status["rows"].index("matched")] == 12


def test_the_network_view_sums_what_peers_published(pair, gazetteer):
    pair.gossip(rounds=1)
    held = pair.stores["B"].peer_published_stats()
    assert [p["peer"] for p in held] == ["Node A"]
    from node.directory.stats import network_stats

    view = network_stats(pair.stores["B"], gazetteer, k=10, now=NOW)
    assert view["nodes"] == ["this node", "Node A"]
    sex = view["tables"]["sex"]
    grand = sex["cells"][sex["rows"].index("total")][sex["columns"].index("total")]
    assert grand == {"value": 135, "kind": "exact"}
    kinds = {c["kind"] for row in sex["cells"] for c in row}
    assert kinds <= {"exact", "at least", "hidden"}


def test_summing_keeps_hidden_cells_hidden_or_lower_bounds():
    one = {
        "name": "sex",
        "rows": ["F"],
        "columns": ["missing"],
        "cells": [[None]],
        "row_totals": [None],
        "column_totals": [None],
        "total": None,
    }
    two = one | {"cells": [[12]], "row_totals": [12], "column_totals": [12], "total": 12}
    summed = sum_published([{"tables": [one]}, {"tables": [two]}])["sex"]
    assert summed["cells"][0][0] == {"value": 12, "kind": "at least"}
    alone = sum_published([{"tables": [one]}, {"tables": []}])["sex"]
    assert alone["cells"][0][0] == {"value": None, "kind": "hidden"}


def test_tables_are_sent_again_only_when_they_change(pair):
    pair.gossip(rounds=1)
    assert pair.gossip(rounds=1) == 0


@pytest.mark.parametrize(
    "tamper",
    [
        lambda p: p["tables"][0]["cells"][0].__setitem__(0, 3),  # a small count published
        lambda p: p.__setitem__("k", 1),
        lambda p: p["tables"][0].__setitem__("rows", ["F"]),
        lambda p: p.__setitem__("extra", 1),
    ],
    ids=["small-count", "k", "shape", "extra-field"],
)
def test_a_bad_published_table_is_refused_and_changes_nothing(pair, gazetteer, tamper):
    published = own_stats(pair.stores["A"], gazetteer, k=10, now=NOW)
    tamper(published)
    before = pair.stores["B"].directory_snapshot()
    body = pair.fed["A"].seal_for(
        pair.peer("A", "B"), new_message_id(), "stats-table", {"published": published}
    )
    with pytest.raises(BadPayload):
        pair.fed["B"].receive(body)
    assert pair.stores["B"].directory_snapshot() == before


def test_stats_command_prints_table_json_and_csv(run, node_home, sample_csv):
    run("--home", node_home, "import", sample_csv)
    table = run("--home", node_home, "stats")
    assert table.exit_code == 0 and "origin_district" in table.output
    data = json.loads(run("--home", node_home, "stats", "--json").output)
    assert data["k"] == 10 and set(data["tables"]) >= {"sex", "status"}
    csv_text = run("--home", node_home, "stats", "--csv", "--k", "2").output
    assert csv_text.splitlines()[0] == "sex,missing,found,total"
    network = run("--home", node_home, "stats", "--network", "--json")
    assert json.loads(network.output)["nodes"] == ["this node"]


@pytest.mark.parametrize(
    ("args", "config", "expected"),
    [
        (["--k", "1"], "", "Invalid value"),
        (["--json", "--csv"], "", "not both"),
        ([], "\n[stats]\nk = 0\n", "[stats] k"),
        ([], "\n[stats]\nk = 'ten'\n", "[stats] k"),
    ],
    ids=["k-option", "two-formats", "k-zero", "k-text"],
)
def test_bad_stats_options_give_one_clear_error(run, node_home, args, config, expected):
    with (node_home / "config.toml").open("a", encoding="utf-8") as out:
        out.write(config)
    result = run("--home", node_home, "stats", *args)
    assert result.exit_code in (1, 2), result.output  # config problems exit 1, like others
    assert expected in result.output and "Traceback" not in result.output


def stats_queued(pair, at: str, to: str) -> int:
    """How many stats-table messages ``at`` queues for ``to`` in a round's shared part."""
    federation = pair.fed[at]
    federation.prepare_shared(pair.peer(at, to))
    peer_id = pair.peer(at, to).id
    queued = federation.store.conn.execute(
        "SELECT count(*) FROM outbox WHERE peer_id = ? AND type = 'stats-table'", (peer_id,)
    ).fetchone()[0]
    federation.store.conn.execute(
        "DELETE FROM outbox WHERE peer_id = ? AND type = 'stats-table'", (peer_id,)
    )
    return queued


def test_published_tables_are_sent_again_when_a_match_changes_and_not_when_nothing_did(pair):
    assert stats_queued(pair, "A", "B") == 1
    assert stats_queued(pair, "A", "B") == 0  # nothing changed since: nothing to send
    store = pair.stores["A"]
    confirm_twelve(store, pair.peer("A", "B").id)
    assert stats_queued(pair, "A", "B") == 1  # twelve records now count as matched
    store.conn.execute("UPDATE matches SET status = 'closed', outcome = 'reunited'")
    assert stats_queued(pair, "A", "B") == 1
    assert stats_queued(pair, "A", "B") == 0
