"""A pair linked through a blind linkage node (docs/privacy-design.md, D4): neither node of the
pair holds a key of its own blinded by both, the linkage node holds no value, and both nodes get
the suggestions a two-sided pair finds. Three real nodes in one process, real stores, sealed
envelopes."""

from __future__ import annotations

import pytest

from matching.synthetic import generate
from node.accounts.users import Profile, add_user, cheap_hasher
from node.federation.inbox import NoticeRefused
from node.federation.linkage import LINKAGE_QUIET_SECONDS, LinkageRefused
from node.federation.sync import is_settled, pending_work
from node.review import rules as review
from node.review.notices import tell_before_review
from node.testing.inprocess import Mesh, Pair
from node.trust.linkage import add_pair, remove_pair
from node.trust.peers import set_evaluation
from protocol.blinding import match_id_for
from protocol.envelope import new_message_id

REGS = generate(60, 50, overlap=0.5, seed=13)
NAMES = {"A": "Kwale Rescue", "B": "Mombasa Shelter", "L": "Nairobi Linkage"}


def build(root, *, agree: bool = True, tell_fields: int = 0) -> Mesh:
    """A and B choose L as their linkage node; L agrees (A first) unless ``agree`` is False, and
    tells B of suggestions before review if ``tell_fields`` fields agree (0: never)."""
    mesh = Mesh(
        root,
        {"A": REGS.missing, "B": REGS.found, "L": []},
        [("A", "B"), ("A", "L"), ("B", "L")],
        names=NAMES,
    )
    for x, y in (("A", "B"), ("B", "A")):
        set_evaluation(mesh.stores[x], NAMES[y], "linker", actor="test", via=NAMES["L"])
    if agree:
        add_pair(mesh.stores["L"], NAMES["A"], NAMES["B"], actor="test")
    mesh.fed["L"].tell_fields = tell_fields
    return mesh


def deliver(mesh: Mesh) -> int:
    moved = 0
    while True:
        step = sum(
            mesh.carry(x, y, queue=False) for a, b in mesh.links for x, y in ((a, b), (b, a))
        )
        if not step:
            return moved
        moved += step


def settle(mesh: Mesh) -> None:
    """What sync rounds do: queue keys, deliver, let L score, deliver its notices."""
    for x, y in (("A", "B"), ("B", "A")):
        mesh.fed[x].prepare(mesh.peer(x, y))
    for _ in range(3):
        deliver(mesh)
        mesh.fed["L"].score_linkages(force=True)
        for x, y in (("A", "B"), ("B", "A")):
            mesh.fed[x].tell_confirmed(mesh.peer(x, y))
    deliver(mesh)


def matches(mesh: Mesh, at: str) -> set[tuple[str, float, str]]:
    return {(m["match_id"], m["score"], m["evidence"]) for m in mesh.stores[at].list_matches()}


def count(mesh: Mesh, at: str, table: str) -> int:
    return mesh.stores[at].conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@pytest.fixture
def linked(tmp_path):
    mesh = build(tmp_path)
    settle(mesh)
    yield mesh
    mesh.close()


@pytest.fixture
def linked_telling(tmp_path):
    """L's admin lets suggestions agreeing on three fields reach B before review."""
    mesh = build(tmp_path, tell_fields=3)
    settle(mesh)
    yield mesh
    mesh.close()


def test_neither_node_of_the_pair_holds_a_key_blinded_by_both(linked):
    for side in "AB":
        assert count(linked, side, "own_blinded") == 0
        assert count(linked, side, "peer_blinded") == 0
    assert count(linked, "L", "linkage_keys") > 0
    assert count(linked, "L", "records") == 0


def test_all_three_nodes_count_the_exchange_as_settled(linked):
    for side in "ABL":
        fed = linked.fed[side]
        fed_peers = fed.trusted_peers()
        for peer in fed_peers:
            fed.rescore(peer)  # what a sync round does; with a linkage node, nothing to score
        assert is_settled(pending_work(fed)), (side, pending_work(fed))


def test_the_first_node_is_told_every_suggestion_and_the_second_none_before_review(linked):
    assert matches(linked, "A") and matches(linked, "B") == set()


def test_the_second_node_is_told_the_strong_ones_if_the_linkers_admin_allows(linked_telling):
    first, second = matches(linked_telling, "A"), matches(linked_telling, "B")
    strong = {m for m in first if tell_before_review(m[2], 3)}
    assert strong and second == strong and len(first) > len(strong)


def test_the_linked_pair_gets_the_suggestions_of_a_two_sided_pair(tmp_path, linked):
    pair = Pair(tmp_path / "both", REGS.missing, REGS.found)
    pair.sync()
    pair.sync()

    def by_refs(a, b, a_peer, b_peer) -> dict[tuple[str, str], float]:
        refs = b.refs_for_pseudonyms(b_peer)
        return {(m["local_ref"], refs[m["peer_pseudonym"]]): m["score"] for m in a.list_matches()}

    stores = linked.stores
    linked_refs = by_refs(
        stores["A"], stores["B"], linked.peer("A", "B").id, linked.peer("B", "A").id
    )
    both_refs = by_refs(
        pair.a.store, pair.b.store, pair.peer_of(pair.a).id, pair.peer_of(pair.b).id
    )
    assert linked_refs and linked_refs == both_refs
    pair.close()


def test_a_suggestion_reaches_the_second_node_when_the_first_confirms_it(linked):
    weak = next(iter(linked.stores["A"].list_matches()))
    assert linked.stores["B"].match(weak["match_id"]) is None
    store = linked.stores["A"]
    user_id = add_user(store, "amina", "caseworker", "a long password here", Profile(),
                       actor="test", now=1, hasher=cheap_hasher())  # fmt: skip
    review.decide(store, weak["match_id"], "confirm", "checked", store.user_by_id(user_id), 5)
    settle(linked)
    theirs = linked.stores["B"].match(weak["match_id"])
    assert (theirs["score"], theirs["evidence"]) == (weak["score"], weak["evidence"])
    assert theirs["peer_decision"] == "confirm"


def test_a_retracted_record_leaves_the_linkage_node_and_its_suggestions(linked_telling):
    store = linked_telling.stores["A"]
    match = next(m for m in store.list_matches() if tell_before_review(m["evidence"], 3))
    assert linked_telling.stores["B"].match(match["match_id"]) is not None
    held = count(linked_telling, "L", "linkage_keys")
    store.retract_record(match["local_ref"], actor="test", reason="found", now=10)
    settle(linked_telling)
    assert count(linked_telling, "L", "linkage_keys") < held
    assert linked_telling.stores["B"].match(match["match_id"]) is None


def test_keys_for_a_pair_the_linkage_node_did_not_agree_to_link_are_refused(tmp_path):
    mesh = build(tmp_path, agree=False)
    for x, y in (("A", "B"), ("B", "A")):
        mesh.fed[x].prepare(mesh.peer(x, y))
    mesh.carry("A", "B", queue=False)  # B blinds A's keys and queues them for L
    before = count(mesh, "L", "linkage_keys"), count(mesh, "L", "processed")
    with pytest.raises(LinkageRefused) as refused:
        mesh.carry("B", "L", queue=False)
    assert refused.value.status == 422
    assert (count(mesh, "L", "linkage_keys"), count(mesh, "L", "processed")) == before
    mesh.close()


def notice(mesh: Mesh, sender: str, kind: str, **change) -> bytes:
    """A notice to A about a pair of A's and B's records, sealed by ``sender``."""
    ours = next(iter(mesh.stores["A"].refs_for_pseudonyms(mesh.peer("A", "B").id)))
    theirs = next(iter(mesh.stores["B"].refs_for_pseudonyms(mesh.peer("B", "A").id)))
    payload = {"match_id": match_id_for(ours, theirs), "score": 0.9, "evidence": "same",
               "receiver_pseudonym": ours, "sender_pseudonym": theirs}  # fmt: skip
    if kind == "linkage-notice":
        payload["peer"] = mesh.peer("A", "B").document.key_id
    payload.update(change)
    fed = mesh.fed[sender]
    return fed.seal_for(mesh.peer(sender, "A"), new_message_id(), kind, payload)


@pytest.mark.parametrize(
    ("sender", "kind", "change", "refusal"),
    [
        ("B", "match-notice", {}, NoticeRefused),  # the peer itself, for a match not confirmed
        ("B", "linkage-notice", {}, LinkageRefused),  # the peer posing as the linkage node
        ("L", "linkage-notice", {"match_id": "0" * 32}, LinkageRefused),  # id of another pair
        ("L", "linkage-notice", {"receiver_pseudonym": "A" * 22}, LinkageRefused),  # no record
    ],
)
def test_a_notice_not_from_our_linkage_node_or_for_no_record_is_refused(
    tmp_path, sender, kind, change, refusal
):
    mesh = build(tmp_path)
    for x, y in (("A", "B"), ("B", "A")):
        mesh.fed[x].prepare(mesh.peer(x, y))
    deliver(mesh)
    before = count(mesh, "A", "matches"), count(mesh, "A", "processed")
    with pytest.raises(refusal) as refused:
        mesh.fed["A"].receive(notice(mesh, sender, kind, **change))
    assert refused.value.status == 422
    assert (count(mesh, "A", "matches"), count(mesh, "A", "processed")) == before
    mesh.close()


@pytest.mark.parametrize(
    ("evaluation", "via", "message"),
    [
        ("linker", None, "needs the linkage node"),
        ("linker", "Mombasa Shelter", "other than 'Mombasa Shelter'"),
        ("linker", "Nowhere", "no peer named 'Nowhere'"),
        ("ours", "Nairobi Linkage", "for 'linker' only"),
        ("mine", None, "who evaluates is one of"),
    ],
)
def test_a_bad_linkage_choice_is_refused_and_changes_nothing(tmp_path, evaluation, via, message):
    mesh = Mesh(tmp_path, {"A": [], "B": [], "L": []}, [("A", "B"), ("A", "L")], names=NAMES)
    store = mesh.stores["A"]
    before = store.peer_evaluation(mesh.peer("A", "B").id)
    with pytest.raises(Exception) as refused:
        set_evaluation(store, NAMES["B"], evaluation, actor="test", via=via)
    assert message in str(refused.value)
    assert store.peer_evaluation(mesh.peer("A", "B").id) == before
    mesh.close()


def test_the_linkage_commands_list_add_and_remove_a_pair(tmp_path, run, linked):
    home = tmp_path / "L"
    listed = run("--home", home, "linkage", "list").output
    assert "Kwale Rescue (60 records) and Mombasa Shelter (50 records): scored" in listed
    status = run("--home", home, "status").output
    assert "linking:         Kwale Rescue (60 records) and Mombasa Shelter (50 records)" in status
    again = run("--home", home, "linkage", "add", NAMES["A"], NAMES["B"])
    assert again.exit_code == 0 and "linked already; nothing was changed" in again.output
    gone = run("--home", home, "linkage", "remove", NAMES["B"], NAMES["A"])
    assert gone.exit_code == 0 and "their keys are deleted" in gone.output
    assert count(linked, "L", "linkage_keys") == 0
    assert "links no pairs" in run("--home", home, "linkage", "list").output
    assert "linking:" not in run("--home", home, "status").output
    assert remove_pair(linked.stores["L"], NAMES["A"], NAMES["B"], actor="test") is False


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        ("Kwale Rescue", "Kwale Rescue", "two different peers"),
        ("Kwale Rescue", "Nowhere", "no peer named 'Nowhere'"),
    ],
)
def test_a_bad_pair_gets_a_clear_error_from_the_cli(tmp_path, run, first, second, message):
    mesh = Mesh(tmp_path, {"A": [], "L": []}, [("A", "L")], names=NAMES)
    result = run("--home", tmp_path / "L", "linkage", "add", first, second)
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output
    assert mesh.stores["L"].linkage_pairs() == []
    mesh.close()


def test_the_peer_cannot_overwrite_what_our_linkage_node_told_us(linked_telling):
    """B confirms a strong suggestion, then sends its own notice with another score and
    evidence: A keeps the linkage node's."""
    store = linked_telling.stores["B"]
    strong = next(m for m in store.list_matches() if tell_before_review(m["evidence"], 3))
    user_id = add_user(store, "baraka", "caseworker", "a long password here", Profile(),
                       actor="test", now=1, hasher=cheap_hasher())  # fmt: skip
    review.decide(store, strong["match_id"], "confirm", "checked", store.user_by_id(user_id), 5)
    deliver(linked_telling)
    before = linked_telling.stores["A"].match(strong["match_id"])
    assert before["peer_decision"] == "confirm"
    payload = {"match_id": strong["match_id"], "score": 0.01, "evidence": "made up",
               "receiver_pseudonym": strong["peer_pseudonym"],
               "sender_pseudonym": strong["local_pseudonym"]}  # fmt: skip
    fed = linked_telling.fed["B"]
    linked_telling.fed["A"].receive(
        fed.seal_for(linked_telling.peer("B", "A"), new_message_id(), "match-notice", payload)
    )
    after = linked_telling.stores["A"].match(strong["match_id"])
    assert (after["score"], after["evidence"]) == (before["score"], before["evidence"])


def test_after_a_rotation_the_pair_gets_the_same_suggestions_and_nothing_is_stuck(linked):
    before = {(m["local_ref"], m["score"]) for m in linked.stores["A"].list_matches()}
    linked.fed["A"].rotate(linked.peer("A", "B"), actor="test")
    settle(linked)
    settle(linked)
    after = {(m["local_ref"], m["score"]) for m in linked.stores["A"].list_matches()}
    assert after == before
    for side in "ABL":
        assert linked.stores[side].outbox_count() == 0


def test_the_linkage_node_scores_a_pair_once_its_nodes_are_quiet(tmp_path):
    mesh = build(tmp_path)
    for x, y in (("A", "B"), ("B", "A")):
        mesh.fed[x].prepare(mesh.peer(x, y))
    deliver(mesh)  # the keys just arrived at L
    linker = mesh.fed["L"]
    assert linker.score_linkages() == 0
    now = linker.clock()
    linker.clock = lambda: now + LINKAGE_QUIET_SECONDS
    assert linker.score_linkages() == 1
    assert linker.score_linkages() == 0  # nothing changed since
    mesh.close()
