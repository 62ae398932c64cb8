"""Two-sided review between two real nodes in one process: decisions travel as messages, the
contact is handed over only after both sides confirm, undo and close follow their rules, and the
audit chain records it all."""

from __future__ import annotations

import pytest

from matching.synthetic import generate
from node.accounts.users import Profile, add_user, cheap_hasher
from node.errors import MatchNotFound, ReviewRefused
from node.federation.inbox import HandoverRefused
from node.review import rules as review
from node.store.audit import verify_chain
from node.testing.inprocess import Pair

NOW = 1_800_000_000


@pytest.fixture
def pair(tmp_path):
    regs = generate(40, 30, overlap=0.5, seed=11)
    made = Pair(tmp_path, regs.missing, regs.found)
    made.sync()
    made.users = {}
    for side, name, org in ((made.a, "amina", "Kwale Rescue"), (made.b, "baraka", "Mombasa")):
        profile = Profile(f"{name.title()} Caseworker", org, "+254 700 000 000", f"{name}@x.org")
        user_id = add_user(side.store, name, "caseworker", "a long password here", profile,
                           actor="test", now=NOW, hasher=cheap_hasher())  # fmt: skip
        made.users[id(side)] = side.store.user_by_id(user_id)
    yield made
    made.close()


def deliver(pair: Pair) -> None:
    for _ in range(2):
        pair.carry(pair.a, pair.b)
        pair.carry(pair.b, pair.a)


def first_match(pair: Pair) -> str:
    return pair.a.store.list_matches()[0]["match_id"]


class TestTwoSidedConfirmation:
    def test_contact_is_handed_over_only_after_both_sides_confirm(self, pair):
        match_id = first_match(pair)
        review.decide(pair.a.store, match_id, "confirm", "same mother", pair.users[id(pair.a)], NOW)
        deliver(pair)
        assert pair.b.store.match(match_id)["peer_decision"] == "confirm"
        assert pair.a.store.match(match_id)["peer_contact"] is None
        assert pair.b.store.match(match_id)["peer_contact"] is None

        review.decide(pair.b.store, match_id, "confirm", "she recognised", pair.users[id(pair.b)],
                      NOW + 60)  # fmt: skip
        deliver(pair)
        a, b = pair.a.store.match(match_id), pair.b.store.match(match_id)
        assert a["status"] == b["status"] == "contact exchanged"
        assert review.peer_contact(a)["name"] == "Baraka Caseworker"
        assert review.peer_contact(b)["email"] == "amina@x.org"

    def test_a_rejection_never_leaves_the_node_and_hands_nothing_over(self, pair):
        match_id = first_match(pair)
        review.decide(pair.a.store, match_id, "confirm", "looks right", pair.users[id(pair.a)], NOW)
        review.decide(pair.b.store, match_id, "reject", "different mother", pair.users[id(pair.b)],
                      NOW)  # fmt: skip
        deliver(pair)
        assert pair.a.store.match(match_id)["peer_contact"] is None
        assert pair.a.store.match(match_id)["peer_decision"] is None
        assert pair.a.store.match(match_id)["status"] == "confirmed"

    def test_a_decided_match_survives_rescoring(self, pair):
        match_id = first_match(pair)
        review.decide(pair.b.store, match_id, "confirm", "same", pair.users[id(pair.b)], NOW)
        deliver(pair)
        pair.a.rescore(pair.peer_of(pair.a), force=True)
        assert pair.a.store.match(match_id)["peer_decision"] == "confirm"


def decisions_queued(side) -> list[str]:
    queued = side.store.pending_messages(side.trusted_peers()[0].id)
    return [m["payload"]["decision"] for m in queued if m["type"] == "review-decision"]


class TestWhatLeavesTheNode:
    @pytest.mark.parametrize(
        ("steps", "sent"),
        [
            (["reject"], []),
            (["unsure"], []),
            (["unsure", "reject"], []),
            (["confirm"], ["confirm"]),
            (["confirm", "reject"], ["confirm", "undo"]),
            (["confirm", "unsure"], ["confirm", "undo"]),
            (["reject", "confirm"], ["confirm"]),
            (["confirm", "undo"], ["confirm", "undo"]),
            (["reject", "undo"], []),
        ],
    )
    def test_only_a_confirmation_and_its_withdrawal_are_sent(self, pair, steps, sent):
        match_id = first_match(pair)
        user = pair.users[id(pair.a)]
        for i, step in enumerate(steps):
            if step == "undo":
                review.undo(pair.a.store, match_id, user, NOW + i)
            else:
                review.decide(pair.a.store, match_id, step, "checked", user, NOW + i)
        assert decisions_queued(pair.a) == sent

    def test_unsolicited_handover_is_refused_and_never_shown(self, pair):
        match_id = first_match(pair)
        contact = {"name": "Stranger", "organisation": "B", "phone": "+254 799 000 666",
                   "email": "x@b.example"}  # fmt: skip
        peer = pair.peer_of(pair.b)
        body = pair.b.seal_for(peer, "f" * 32, "contact-handover",
                               {"match_id": match_id, "contact": contact})  # fmt: skip
        with pytest.raises(HandoverRefused) as refused:
            pair.a.receive(body)
        assert refused.value.status == 422
        match = pair.a.store.match(match_id)
        assert match["peer_contact"] is None and review.peer_contact(match) is None
        assert not pair.a.store.was_processed(pair.peer_of(pair.a).id, "f" * 32)
        events = pair.a.store.peer_events(pair.peer_of(pair.a).id)
        assert [e["kind"] for e in events] == ["handover-refused"]
        assert "peer-alert-handover-refused" in [r["action"] for r in pair.a.store.iter_audit()]

    @pytest.mark.parametrize("ours", [None, "reject", "unsure", "confirm"])
    def test_a_handover_needs_both_confirmations(self, pair, ours):
        match_id = first_match(pair)
        if ours:
            review.decide(pair.a.store, match_id, ours, "checked", pair.users[id(pair.a)], NOW)
        contact = {"name": "S", "organisation": "B", "phone": "1", "email": "e"}
        body = pair.b.seal_for(pair.peer_of(pair.b), "e" * 32, "contact-handover",
                               {"match_id": match_id, "contact": contact})  # fmt: skip
        with pytest.raises(HandoverRefused):  # the peer never confirmed
            pair.a.receive(body)
        assert pair.a.store.match(match_id)["peer_contact"] is None

    def test_a_shown_contact_needs_the_status_contact_exchanged(self):
        stored = '{"name": "S", "organisation": "B", "phone": "1", "email": "e"}'
        for status in ("suggested", "confirmed", "rejected", "unsure", "withdrawn"):
            assert review.peer_contact({"status": status, "peer_contact": stored}) is None
        assert review.peer_contact({"status": "contact exchanged", "peer_contact": stored})

    def test_a_withdrawn_match_keeps_no_evidence_or_pseudonym(self, pair):
        match_id = first_match(pair)
        review.decide(pair.a.store, match_id, "unsure", "", pair.users[id(pair.a)], NOW)
        theirs = pair.a.store.match(match_id)["peer_pseudonym"]
        body = pair.b.seal_for(pair.peer_of(pair.b), "d" * 32, "retraction",
                               {"pseudonyms": [theirs]})  # fmt: skip
        pair.a.receive(body)
        match = pair.a.store.match(match_id)
        assert match["status"] == "withdrawn"
        assert (match["evidence"], match["peer_pseudonym"], match["local_pseudonym"],
                match["score"]) == ("", "", "", 0)  # fmt: skip

    def test_every_connection_overwrites_deleted_rows(self, pair):
        for side in (pair.a, pair.b):
            assert side.store.conn.execute("PRAGMA secure_delete").fetchone()[0] == 1


class TestDecisionRules:
    @pytest.mark.parametrize(
        ("decision", "note", "message"),
        [
            ("confirm", "", "a note is required to confirm"),
            ("reject", "   ", "a note is required to reject"),
            ("maybe", "x", "unknown decision"),
            ("confirm", "x" * 2001, "longer than 2000"),
        ],
    )
    def test_bad_decision_is_refused_and_changes_nothing(self, pair, decision, note, message):
        match_id = first_match(pair)
        outbox = pair.a.store.outbox_count()
        with pytest.raises(ReviewRefused, match=message):
            review.decide(pair.a.store, match_id, decision, note, pair.users[id(pair.a)], NOW)
        assert pair.a.store.match(match_id)["status"] == "suggested"
        assert pair.a.store.decisions(match_id) == []
        assert pair.a.store.outbox_count() == outbox

    def test_unknown_match_is_refused(self, pair):
        with pytest.raises(MatchNotFound):
            review.decide(pair.a.store, "0" * 32, "unsure", "", pair.users[id(pair.a)], NOW)

    def test_own_decision_can_be_undone_within_a_day(self, pair):
        match_id = first_match(pair)
        review.decide(pair.a.store, match_id, "reject", "wrong age", pair.users[id(pair.a)], NOW)
        review.undo(pair.a.store, match_id, pair.users[id(pair.a)], NOW + 23 * 3600)
        assert pair.a.store.match(match_id)["status"] == "suggested"
        deliver(pair)
        assert pair.b.store.match(match_id)["peer_decision"] is None

    @pytest.mark.parametrize("late", [24 * 3600 + 1, 48 * 3600])
    def test_undo_after_a_day_is_refused(self, pair, late):
        match_id = first_match(pair)
        review.decide(pair.a.store, match_id, "reject", "wrong age", pair.users[id(pair.a)], NOW)
        with pytest.raises(ReviewRefused, match="within 24 hours"):
            review.undo(pair.a.store, match_id, pair.users[id(pair.a)], NOW + late)
        assert pair.a.store.match(match_id)["status"] == "rejected"

    def test_undo_of_someone_elses_decision_is_refused(self, pair):
        match_id = first_match(pair)
        other = add_user(pair.a.store, "zawadi", "caseworker", "another long password",
                         Profile(), actor="test", now=NOW, hasher=cheap_hasher())  # fmt: skip
        review.decide(pair.a.store, match_id, "unsure", "", pair.users[id(pair.a)], NOW)
        with pytest.raises(ReviewRefused):
            review.undo(pair.a.store, match_id, pair.a.store.user_by_id(other), NOW + 10)

    def test_closing_needs_exchanged_contacts(self, pair):
        match_id = first_match(pair)
        with pytest.raises(ReviewRefused, match="contacts were exchanged"):
            review.close(pair.a.store, match_id, "reunited", "", pair.users[id(pair.a)], NOW)


def test_closing_a_case_retracts_its_keys_at_the_peer_and_the_chain_verifies(pair):
    match_id = first_match(pair)
    for side, note in ((pair.a, "same phone"), (pair.b, "same mother")):
        review.decide(side.store, match_id, "confirm", note, pair.users[id(side)], NOW)
    deliver(pair)
    with pytest.raises(ReviewRefused, match="no decision of yours"):
        review.undo(pair.a.store, match_id, pair.users[id(pair.a)], NOW + 1)
    match = review.close(pair.a.store, match_id, "reunited", "home", pair.users[id(pair.a)], NOW)
    assert match["status"] == "closed"
    assert pair.a.store.get_record(match["local_ref"])["retracted"] == 1
    pair.sync()
    theirs = pair.b.store.match(match_id)
    assert theirs["status"] == "contact exchanged"  # the peer's caseworker keeps the contact
    keys = pair.b.store.blinded_keys("peer_blinded", pair.peer_of(pair.b).id)
    assert match["local_pseudonym"] not in keys

    for side in pair.sides:
        actions = [row["action"] for row in side.store.iter_audit()]
        assert "message-received" in actions and "message-sent" in actions
        assert verify_chain(side.store.iter_audit()).ok
