"""Who evaluates a pair (docs/privacy-design.md): with "ours" at one node and "theirs" at the
other, the peer never holds its own doubly blinded keys, so it cannot compare them with ours,
and learns suggestions only from match notices. Two real nodes in one process, real stores and
sealed envelopes."""

from __future__ import annotations

import json

import pytest

from keys import KdfParams
from matching.synthetic import generate
from node.accounts.users import Profile, add_user, cheap_hasher
from node.federation import loopback
from node.federation.exchange import Federation
from node.federation.inbox import NoticeRefused
from node.federation.sync import is_settled, pending_work
from node.home import open_home
from node.records.importer import apply_import, plan_import
from node.review import rules as review
from node.review.notices import notice_for, tell_before_review
from node.runtime import federation_for, node_lexicon
from node.store.db import Store
from node.testing.processes import HOME_PASSPHRASE as PASSPHRASE
from node.testing.processes import write_register
from node.trust.identity import create_node, invite_token, unlock
from node.trust.peers import add_peer, one_evaluator, peer_fingerprint, trust_peer
from protocol.envelope import new_message_id

REGS = generate(60, 50, overlap=0.5, seed=13)


def build(root, evaluation_a: str, evaluation_b: str) -> tuple[Federation, Federation]:
    made = []
    for name, records in (("Kwale Rescue", REGS.missing), ("Mombasa Shelter", REGS.found)):
        path = root / name.split()[0].lower()
        home = create_node(path, name=name, passphrase=PASSPHRASE, kdf=KdfParams.cheap())
        store = Store.open(home.database_path)
        apply_import(plan_import(write_register(root / f"{path.name}.csv", records), store), store)
        made.append((home, store))
    (home_a, store_a), (home_b, store_b) = made
    add_peer(home_a, store_a, invite_token(home_b), actor="test")
    add_peer(home_b, store_b, invite_token(home_a), actor="test")
    digits = peer_fingerprint(home_a, store_a, home_b.name)
    trust_peer(home_a, store_a, home_b.name, digits, actor="test", evaluation=evaluation_a)
    trust_peer(home_b, store_b, home_a.name, digits, actor="test", evaluation=evaluation_b)
    return tuple(
        federation_for(open_home(h.path), s, unlock(h, PASSPHRASE), node_lexicon(h))
        for h, s in made
    )


def peer(federation: Federation):
    return federation.trusted_peers()[0]


def carry(sender: Federation, receiver: Federation) -> int:
    return len(loopback.carry(sender, peer(sender), receiver))


def exchange(a: Federation, b: Federation) -> None:
    for x in (a, b):
        x.prepare(peer(x))
    for _ in range(3):
        while carry(a, b) + carry(b, a):
            pass
        for x in (a, b):
            x.rescore(peer(x), force=True)
    while carry(a, b) + carry(b, a):
        pass


def by_refs(a: Federation, b: Federation) -> dict[tuple[str, str], float]:
    """A's suggestions keyed by both refs (B's pseudonyms turned back into refs: a test may)."""
    b_refs = b.store.refs_for_pseudonyms(peer(b).id)
    return {
        (m["local_ref"], b_refs[m["peer_pseudonym"]]): m["score"] for m in a.store.list_matches()
    }


def table_count(federation: Federation, table: str) -> int:
    return federation.store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@pytest.fixture
def one_sided(tmp_path):
    a, b = build(tmp_path, "ours", "theirs")
    exchange(a, b)
    yield a, b
    a.store.close()
    b.store.close()


@pytest.fixture
def telling(tmp_path):
    """As one_sided, but A's admin lets suggestions agreeing on three fields through before
    review ([federation] tell_before_review = 3)."""
    a, b = build(tmp_path, "ours", "theirs")
    a.tell_fields = 3
    exchange(a, b)
    yield a, b
    a.store.close()
    b.store.close()


def test_the_peer_never_holds_its_own_keys_doubly_blinded_nor_hears_before_review(one_sided):
    a, b = one_sided
    assert table_count(b, "own_blinded") == 0 and table_count(b, "peer_blinded") == 0
    assert table_count(a, "own_blinded") > 0 and table_count(a, "peer_blinded") > 0
    assert a.store.list_matches() and b.store.list_matches() == []


def test_an_admin_may_let_strong_suggestions_reach_the_peer_before_review(telling):
    a, b = telling
    ours = {(m["match_id"], m["score"], m["evidence"]) for m in a.store.list_matches()}
    theirs = {(m["match_id"], m["score"], m["evidence"]) for m in b.store.list_matches()}
    told = {m for m in ours if tell_before_review(m[2], 3)}
    assert told and theirs == told and len(ours) > len(told)


def test_the_node_that_does_not_evaluate_counts_the_exchange_as_settled(one_sided):
    a, b = one_sided
    for x in (a, b):
        assert is_settled(pending_work(x)), pending_work(x)


@pytest.mark.parametrize("rotating", ["evaluator", "peer"])
def test_a_rotation_leaves_no_notice_stuck_in_an_outbox(one_sided, rotating):
    """Withdrawals of suggestions about pseudonyms a rotation renewed are ignored, not refused."""
    a, b = one_sided
    before = {(m["local_ref"], m["score"]) for m in a.store.list_matches()}
    x = a if rotating == "evaluator" else b
    x.rotate(peer(x), actor="test")
    exchange(a, b)
    exchange(a, b)
    assert {(m["local_ref"], m["score"]) for m in a.store.list_matches()} == before
    assert a.store.outbox_count() == 0 and b.store.outbox_count() == 0


def test_a_suggestion_reaches_the_peer_when_we_confirm_it(one_sided):
    a, b = one_sided
    weak = next(iter(a.store.list_matches()))
    assert b.store.match(weak["match_id"]) is None
    user_id = add_user(a.store, "amina", "caseworker", "a long password here", Profile(),
                       actor="test", now=1, hasher=cheap_hasher())  # fmt: skip
    review.decide(a.store, weak["match_id"], "confirm", "checked", a.store.user_by_id(user_id), 5)
    while carry(a, b) + carry(b, a):
        pass
    theirs = b.store.match(weak["match_id"])
    assert (theirs["score"], theirs["evidence"]) == (weak["score"], weak["evidence"])
    assert theirs["peer_decision"] == "confirm"
    a.rescore(peer(a), force=True)  # a confirmed pair stays told
    while carry(a, b) + carry(b, a):
        pass
    assert b.store.match(weak["match_id"]) is not None


STRONG = "two names sound the same, in any order; same birth year; same home district"


@pytest.mark.parametrize(
    ("evidence", "min_fields", "told"),
    [
        ("two names sound the same, in any order; same home district", 3, False),
        (STRONG, 3, True),
        (STRONG, 0, False),  # the default: only once our caseworker confirms
        (STRONG, 4, False),
        (STRONG, 2, False),  # below the least an admin may set: never
        ("a name sounds the same; same home village; home district differs", 3, False),
        ("same phone number; same birth date; mother's name sounds the same", 3, True),
        (
            "two names sound the same, in any order; same home district; another candidate fits "
            "as well or better",
            3,
            False,
        ),
    ],
)
def test_a_suggestion_is_told_before_review_only_if_the_admin_allows_and_enough_fields_agree(
    evidence, min_fields, told
):
    assert tell_before_review(evidence, min_fields) is told


def test_one_sided_evaluation_gives_the_same_scores_as_both_sides(tmp_path, one_sided):
    a, b = one_sided
    both_a, both_b = build(tmp_path / "both", "both", "both")
    exchange(both_a, both_b)
    assert by_refs(a, b) == by_refs(both_a, both_b)
    both_a.store.close()
    both_b.store.close()


def matches_of(federation: Federation) -> set[tuple[str, float, str]]:
    return {(m["match_id"], m["score"], m["evidence"]) for m in federation.store.list_matches()}


def test_by_default_one_node_evaluates_and_both_list_the_same_suggestions(tmp_path):
    """ "auto": the node whose key id sorts first compares, the other never holds its own keys
    blinded by both, and learns every suggestion at once, so both lists are the same."""
    a, b = build(tmp_path, "auto", "auto")
    exchange(a, b)
    roles = {x.store.peer_evaluation(peer(x).id) for x in (a, b)}
    assert roles == {"ours", "theirs"}
    assert all(x.store.peer_evaluation_is_auto(peer(x).id) for x in (a, b))
    evaluator, other = (a, b) if a.store.peer_evaluation(peer(a).id) == "ours" else (b, a)
    assert table_count(other, "own_blinded") == 0 and table_count(other, "peer_blinded") == 0
    assert matches_of(a) and matches_of(a) == matches_of(b)
    assert other.store.records_held(peer(other).id) == len(
        evaluator.store.pseudonyms(peer(evaluator).id)
    )
    assert not any(x.store.peer_alerts(("evaluation-mismatch",), 0) for x in (a, b))
    both_a, both_b = build(tmp_path / "both", "both", "both")
    exchange(both_a, both_b)
    assert by_refs(a, b) == by_refs(both_a, both_b)
    for x in (a, b, both_a, both_b):
        x.store.close()


def guessing_profile(x: Federation, keys_per_record: float) -> None:
    """The shape the inbox remembers of the peer's largest batch, as if it had sent this."""
    x.store.conn.execute(
        "UPDATE peer_profiles SET profile = ? WHERE peer_id = ?",
        (json.dumps({"announced": 50, "records": 400, "keys": int(400 * keys_per_record),
                     "type_shares": {"phone": 1.0}}), peer(x).id),
    )  # fmt: skip


def guesses_held(x: Federation, guesses: int) -> None:
    """Guessed records of one key each held from the peer beside its real register, as the
    inbox stores a later batch: a largest batch shaped like a register hides nothing then."""
    rows = [(peer(x).id, f"guess{i:06d}", "phone", i.to_bytes(32, "big")) for i in range(guesses)]
    with x.store.conn:
        x.store.conn.executemany("INSERT INTO peer_blinded VALUES (?, ?, ?, ?)", rows)
        x.store.conn.executemany(
            "INSERT INTO peer_records (peer_id, pseudonym) VALUES (?, ?)", [r[:2] for r in rows]
        )


@pytest.mark.parametrize(
    ("looks", "withheld"),
    [
        ("over its budget", True),
        ("1.2 keys a record", True),  # the harness's guesser: far fewer keys than a register
        ("80 keys a record", False),  # an honest register richer than ours: told as before
        # A register's batch sent first, then guesses: its largest batch looks honest, what it
        # sent in all does not.
        ("a register, then 5,000 guesses", True),
        ("a register, then 20 guesses", False),
    ],
)
def test_a_peer_that_looks_like_a_guesser_is_told_only_what_we_confirm(tmp_path, looks, withheld):
    """By default the peer hears of every suggestion at once; a guesser would learn each guess
    that scores high, so a peer that looks like one is told confirmed ones only."""
    a, b = build(tmp_path, "ours", "theirs")
    a.store.set_peer_evaluation(peer(a).id, "ours", actor="test", now=1, auto=True)
    exchange(a, b)
    assert matches_of(b) and matches_of(b) == matches_of(a)
    if looks == "over its budget":
        a.store.record_peer_alert(peer(a).id, "over-budget", "as the inbox records it", a.clock())
    elif looks.startswith("a register"):
        guesses_held(a, int(looks.split()[-2].replace(",", "")))
    else:
        guessing_profile(a, float(looks.split()[0]))
    exchange(a, b)
    alerts = a.store.peer_alerts(("suggestions-withheld",), 0)
    if not withheld:
        assert matches_of(b) == matches_of(a) and not alerts
        return
    assert matches_of(a) and not matches_of(b)  # the unreviewed ones were withdrawn
    assert alerts and "only once our caseworker confirms it" in alerts[0]["detail"]
    user_id = add_user(a.store, "amina", "caseworker", "a long password here", Profile(),
                       actor="test", now=1, hasher=cheap_hasher())  # fmt: skip
    match_id = next(iter(matches_of(a)))[0]
    review.decide(a.store, match_id, "confirm", "checked", a.store.user_by_id(user_id), 5)
    while carry(a, b) + carry(b, a):
        pass
    assert [m["match_id"] for m in b.store.list_matches()] == [match_id]
    a.store.close()
    b.store.close()


def keys_exchanged_a_evaluating(tmp_path) -> tuple[Federation, Federation]:
    """A pair under the default with A evaluating, every key exchanged, nothing scored yet."""
    a, b = build(tmp_path, "ours", "theirs")
    a.store.set_peer_evaluation(peer(a).id, "ours", actor="test", now=1, auto=True)
    for x in (a, b):
        x.prepare(peer(x))
    while carry(a, b) + carry(b, a):
        pass
    return a, b


def test_suggestions_stored_before_their_notices_leave_the_peer_to_be_scored_again(tmp_path):
    """Storing the suggestions and queuing their notices are two steps; a process killed
    between them must not leave the peer "settled" and untold."""
    a, b = keys_exchanged_a_evaluating(tmp_path)
    scoring = a.score(peer(a))
    # The first step of store_scores, as a process killed before the second leaves it.
    a.store.replace_suggestions(peer(a).id, scoring.suggestions, a.clock(), scoring.generation,
                                scoring.rescored, scoring.reviewed, finish=False)  # fmt: skip
    assert a.store.peer_sync_state(peer(a).id)["needs_scoring"]
    assert not a.store.pending_messages(peer(a).id)
    assert a.rescore(peer(a)) == len(scoring.suggestions)  # the next round tells the peer
    assert not a.store.peer_sync_state(peer(a).id)["needs_scoring"]
    while carry(a, b) + carry(b, a):
        pass
    assert matches_of(b) and matches_of(b) == matches_of(a)
    a.store.close()
    b.store.close()


def test_the_evaluating_node_sends_its_suggestions_in_batches_applied_together(tmp_path):
    a, b = keys_exchanged_a_evaluating(tmp_path)
    told = a.rescore(peer(a), force=True)
    queued = a.store.pending_messages(peer(a).id)
    assert told > 1 and [m["type"] for m in queued] == ["match-notices"]
    assert len(queued[0]["payload"]["notices"]) == told
    carry(a, b)
    assert matches_of(a) == matches_of(b) and table_count(b, "processed") > 0
    a.store.close()
    b.store.close()


def test_a_batch_with_one_bad_notice_is_refused_whole_and_changes_nothing(tmp_path):
    a, b = build(tmp_path, "theirs", "ours")
    exchange(a, b)
    good = [notice_for(m) for m in b.store.list_matches()][:3]  # as B, evaluating, tells them
    bad = {**good[0], "receiver_pseudonym": "A" * 22}
    before = matches_of(a), table_count(a, "processed")
    changed = [{**n, "score": 0.5} for n in good]
    body = b.seal_for(peer(b), new_message_id(), "match-notices", {"notices": [*changed, bad]})
    with pytest.raises(NoticeRefused) as refused:
        a.receive(body)
    assert refused.value.status == 422
    assert (matches_of(a), table_count(a, "processed")) == before
    a.store.close()
    b.store.close()


@pytest.mark.parametrize(
    ("ours", "theirs", "evaluates"),
    [("A" * 22, "B" * 22, "ours"), ("B" * 22, "A" * 22, "theirs"), ("a" * 22, "Z" * 22, "theirs"),
     ("-" * 22, "0" * 22, "ours"), ("AAAA_" + "x" * 17, "AAAA-" + "x" * 17, "theirs")],
)  # fmt: skip
def test_the_default_evaluator_is_the_node_whose_key_id_sorts_first(ours, theirs, evaluates):
    assert one_evaluator(ours, theirs) == evaluates
    assert one_evaluator(theirs, ours) == {"ours": "theirs", "theirs": "ours"}[evaluates]


@pytest.mark.parametrize("evaluator", ["A", "B"])
def test_a_notice_on_its_way_about_a_record_the_peer_renamed_is_dropped_not_stuck(
    tmp_path, evaluator
):
    """The evaluating node queued notices; the other rotates (new pseudonyms) before they
    arrive. The other refuses them, and delivery stops at the first refusal; the rotation's
    retraction, once it reaches the evaluating node, removes them, and the new exchange tells
    the same pairs again."""
    a, b = build(tmp_path, *(("ours", "theirs") if evaluator == "A" else ("theirs", "ours")))
    for x in (a, b):
        x.store.set_peer_evaluation(peer(x).id, x.store.peer_evaluation(peer(x).id),
                                    actor="test", now=1, auto=True)  # fmt: skip
    exchange(a, b)
    before = by_refs(a, b)
    scorer, other = (a, b) if evaluator == "A" else (b, a)
    scorer.store.conn.execute("DELETE FROM notices_sent")  # as if nothing had been told yet
    scorer.rescore(peer(scorer), force=True)
    assert scorer.store.outbox_count(peer(scorer).id) > 0  # notices, on their way
    other.rotate(peer(other), actor="test")
    with pytest.raises(NoticeRefused):
        carry(scorer, other)  # the race: they arrive after the rotation
    assert scorer.store.outbox_count(peer(scorer).id) > 0  # so they stay, and block the rest
    carry(other, scorer)  # the rotation's retraction reaches the scorer
    exchange(a, b)
    exchange(a, b)
    assert a.store.outbox_count() == 0 and b.store.outbox_count() == 0
    assert by_refs(a, b) == before and matches_of(a) == matches_of(b)
    a.store.close()
    b.store.close()


def notice(a: Federation, b: Federation, **change) -> bytes:
    """A match notice from B to A, sealed by B, naming one of A's records unless changed."""
    ours = next(iter(a.store.refs_for_pseudonyms(peer(a).id)))
    theirs = next(iter(b.store.refs_for_pseudonyms(peer(b).id)))
    from protocol.blinding import match_id_for

    payload = {"match_id": match_id_for(ours, theirs), "score": 0.9, "evidence": "same",
               "receiver_pseudonym": ours, "sender_pseudonym": theirs, **change}  # fmt: skip
    return b.seal_for(peer(b), new_message_id(), "match-notice", payload)


@pytest.mark.parametrize(
    ("evaluation_a", "change"),
    [
        ("both", {}),  # A compares keys itself: a peer's notice is not wanted
        ("ours", {}),
        ("theirs", {"match_id": "0" * 32}),  # the id does not belong to the two pseudonyms
        ("theirs", {"receiver_pseudonym": "A" * 22}),  # no record of A has this pseudonym
    ],
)
def test_an_unwanted_or_wrong_notice_is_refused_and_changes_nothing(tmp_path, evaluation_a,
                                                                     change):  # fmt: skip
    a, b = build(tmp_path, evaluation_a, "both")
    for x in (a, b):
        x.prepare(peer(x))
    while carry(a, b) + carry(b, a):
        pass
    before = table_count(a, "matches"), table_count(a, "processed")
    with pytest.raises(NoticeRefused) as refused:
        a.receive(notice(a, b, **change))
    assert refused.value.status == 422
    assert (table_count(a, "matches"), table_count(a, "processed")) == before
    a.store.close()
    b.store.close()


@pytest.mark.parametrize(
    ("evaluation_a", "evaluation_b", "misfit"),
    [
        ("both", "both", False),
        ("ours", "theirs", False),
        ("theirs", "ours", False),
        ("ours", "ours", True),  # nobody compares: no suggestions on either side
        ("theirs", "theirs", True),
        ("both", "ours", True),
        ("ours", "both", True),
        ("both", "theirs", True),
    ],
)
def test_each_node_is_alerted_when_the_two_sides_set_who_evaluates_in_ways_that_do_not_fit(
    tmp_path, run, evaluation_a, evaluation_b, misfit
):
    a, b = build(tmp_path, evaluation_a, evaluation_b)
    for x in (a, b):
        x.prepare(peer(x))
    while carry(a, b) + carry(b, a):
        pass
    for x, ours, theirs in ((a, evaluation_a, evaluation_b), (b, evaluation_b, evaluation_a)):
        alerts = x.store.peer_alerts(("evaluation-mismatch",), 0)
        assert bool(alerts) == misfit, alerts
        if misfit:
            detail = alerts[0]["detail"]
            assert f"we set evaluation {ours!r}" in detail and f"announces {theirs!r}" in detail
            assert "tafuta peers evaluation" in detail
    status = run("--home", tmp_path / "kwale", "status").output
    assert ("ALERT" in status and "evaluation-mismatch" in status) == misfit, status
    a.store.close()
    b.store.close()


def test_an_announced_evaluation_is_compared_never_obeyed(tmp_path):
    """A peer claiming to evaluate alone does not make us send our keys back: our own setting
    decides what we give away."""
    a, b = build(tmp_path, "ours", "ours")
    for x in (a, b):
        x.prepare(peer(x))
    while carry(a, b) + carry(b, a):
        pass
    assert table_count(b, "own_blinded") == 0 and table_count(a, "own_blinded") == 0
    a.store.close()
    b.store.close()


def test_a_withdrawn_notice_removes_an_unreviewed_suggestion(telling):
    a, b = telling
    match = b.store.list_matches()[0]
    payload = {"match_id": match["match_id"], "score": 0, "evidence": "",
               "receiver_pseudonym": match["local_pseudonym"],
               "sender_pseudonym": match["peer_pseudonym"]}  # fmt: skip
    b.receive(a.seal_for(peer(a), new_message_id(), "match-notice", payload))
    assert b.store.match(match["match_id"]) is None


def test_peers_evaluation_shows_and_changes_who_evaluates(tmp_path, run):
    a, b = build(tmp_path, "both", "both")
    home = tmp_path / "kwale"
    assert "Mombasa Shelter: both:" in run("--home", home, "peers", "evaluation",
                                           "Mombasa Shelter").output  # fmt: skip
    out = run("--home", home, "peers", "evaluation", "Mombasa Shelter", "ours").output
    assert "Mombasa Shelter: ours: only this node compares keys" in out
    bad = run("--home", home, "peers", "evaluation", "Mombasa Shelter", "mine")
    assert bad.exit_code != 0 and a.store.peer_evaluation(peer(a).id) == "ours"
    a.store.close()
    b.store.close()


@pytest.mark.parametrize("value", ["2", "9", "'three'", "true", "-1"])
def test_a_bad_tell_before_review_setting_gives_one_clear_error(run, node_home, value):
    config = node_home / "config.toml"
    before = config.read_text(encoding="utf-8")
    config.write_text(before + f"\n[federation]\ntell_before_review = {value}\n", "utf-8")
    result = run("--home", node_home, "sync")
    assert result.exit_code == 1, result.output
    assert "[federation] tell_before_review" in result.output and "0 (tell" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("setting", "fields"), [("", 0), ("tell_before_review = 0", 0),
                                                 ("tell_before_review = 4", 4)])  # fmt: skip
def test_tell_before_review_comes_from_the_admins_config(node_home, setting, fields):
    config = node_home / "config.toml"
    config.write_text(config.read_text("utf-8") + f"\n[federation]\n{setting}\n", "utf-8")
    home = open_home(node_home)
    with Store.open(home.database_path) as store:
        federation = federation_for(home, store, unlock(home, PASSPHRASE), node_lexicon(home))
        assert federation.tell_fields == fields
