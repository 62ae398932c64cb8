"""The review pages between two real nodes served by `tafuta serve`: the partner's decision is
visible where work is chosen (the queue's column, "partner confirmed" filter and count, and
peer_decision in `tafuta matches`), and the match page says what agrees in words, not key codes,
in English and Swahili."""

from __future__ import annotations

import csv
import html
import io
import json
import re

import pytest

from matching.keys import KEY_TYPES
from matching.synthetic import generate
from node.testing.processes import pair, wait_until
from node.testing.web import WebClient, add_users
from node.web.i18n import translator
from node.web.words import COMPONENT_WORDS, evidence_phrases

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["Kwale", "Mombasa"], ids=lambda p: f"{p} evaluates")
def confirmed_by_partner(tmp_path_factory, request):
    """Two paired nodes, one of them evaluating as the default would pick it; Kwale's
    caseworker confirms one match; Mombasa has heard of it. Yields (Mombasa's node, the match
    id, the ids of Mombasa's other matches)."""
    from node.testing.processes import Network, let_evaluate

    made = Network(tmp_path_factory.mktemp("partner"))
    try:
        regs = generate(40, 30, overlap=0.5, seed=5)
        a = made("Kwale Rescue", regs.missing)
        b = made("Mombasa Shelter", regs.found)
        pair(a, b)
        let_evaluate(*((a, b) if request.param == "Kwale" else (b, a)))
        add_users(a.home, {"amina": "caseworker"})
        add_users(b.home, {"baraka": "caseworker"})
        a.start(sync_interval=0.5)
        b.start(sync_interval=0.5)
        shared = wait_until(
            lambda: {m["match_id"] for m in a.matches()} & {m["match_id"] for m in b.matches()},
            timeout=120,
        )
        match_id = sorted(shared)[0]
        amina = WebClient(a.url)
        assert amina.login("amina").status == 303
        token = amina.get(f"/matches/{match_id}").csrf()
        decision = {"csrf": token, "decision": "confirm", "note": "same mother"}
        reply = amina.post(f"/matches/{match_id}/decide", decision)
        assert reply.status == 303
        wait_until(
            lambda: any(m["match_id"] == match_id and m["peer_decision"] == "confirm"
                        for m in b.matches()),
            timeout=60,
        )  # fmt: skip
        others = {m["match_id"] for m in b.matches()} - {match_id}
        yield b, match_id, others
    finally:
        made.close()


@pytest.fixture
def baraka(confirmed_by_partner) -> WebClient:
    node, _, _ = confirmed_by_partner
    client = WebClient(node.url)
    assert client.login("baraka").status == 303
    return client


def queue_ids(body: str) -> set[str]:
    return set(re.findall(r'href="/matches/([0-9a-f]{32})"', body))


def test_the_queue_has_a_column_with_the_partners_decision(confirmed_by_partner, baraka):
    _, match_id, _ = confirmed_by_partner
    body = baraka.get("/queue?status=all").body
    assert "Partner&#39;s decision</th>" in body
    row = re.search(rf'/matches/{match_id}".*?</tr>', body, re.S).group(0)
    assert '<td class="partner">partner confirmed</td>' in row
    assert '<td class="partner" title="partner has not decided">—</td>' in body


@pytest.mark.parametrize(
    ("partner", "expect"), [("confirm", "only the confirmed"), ("none", "all but the confirmed")]
)
def test_the_partner_filter_shows_only_those_matches(confirmed_by_partner, baraka, partner, expect):
    _, match_id, others = confirmed_by_partner
    shown = queue_ids(baraka.get(f"/queue?status=all&partner={partner}").body)
    if expect == "only the confirmed":
        assert shown == {match_id}
    else:
        assert match_id not in shown and shown <= others and shown


def test_the_queue_counts_what_the_partner_confirmed(baraka):
    body = baraka.get("/queue").body
    counted = re.search(
        r'id="partner-confirmed"><a href="([^"]+)"[^>]*>partner confirmed: <b>(\d+)', body
    )
    assert counted and counted.group(2) == "1"
    assert counted.group(1) == "/queue?status=all&amp;partner=confirm"


def test_an_unknown_partner_filter_is_a_clear_400(baraka):
    reply = baraka.get("/queue?partner=maybe")
    assert reply.status == 400
    assert "unknown partner decision" in reply.body and "Traceback" not in reply.body


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_tafuta_matches_gives_the_partners_decision(confirmed_by_partner, fmt):
    node, match_id, _ = confirmed_by_partner
    out = node.tafuta("matches", "--format", fmt).stdout
    rows = json.loads(out) if fmt == "json" else list(csv.DictReader(io.StringIO(out)))
    decisions = {r["match_id"]: r["peer_decision"] for r in rows}
    assert decisions[match_id] == "confirm"
    assert {d for m, d in decisions.items() if m != match_id} <= {None, ""}


@pytest.mark.parametrize(
    ("language", "what_agrees"), [("en", "What agrees"), ("sw", "Kinachokubaliana")]
)
def test_the_match_page_says_what_agrees_in_words_not_key_codes(
    confirmed_by_partner, language, what_agrees
):
    node, match_id, _ = confirmed_by_partner
    client = WebClient(node.url)
    assert client.login("baraka").status == 303
    token = client.get("/queue").csrf()
    client.post("/language", {"csrf": token, "language": language, "next": "/queue"})
    body = client.get(f"/matches/{match_id}").body
    assert what_agrees in body
    for code in KEY_TYPES:
        assert "_" not in code or code not in body, code  # "phone" is also a word
    _ = translator(language)
    phrases = {_(p) for p in COMPONENT_WORDS.values()}
    listed = re.search(r'<ul id="agreeing">(.*?)</ul>', body, re.S)
    shown = node.tafuta("peers", "evaluation", "Kwale Rescue").stdout
    compares = shown.startswith("Kwale Rescue: ours")
    if compares:  # it holds both sides' keys: the key types that agree, in words
        agreeing = re.findall(r"<li>(.*?)</li>", listed.group(1))
        assert agreeing
        for words in agreeing:
            # The page escapes an apostrophe as &#39;, html.escape as &#x27;: compare the text.
            assert set(html.unescape(words).split(_(" and "))) <= phrases, words
    else:  # it holds no keys of the pair: the evaluating node's evidence says what agrees
        said = _("{peer} compared the keys; what agrees is in its evidence above.")
        assert listed is None and html.escape(said.format(peer="Kwale Rescue")) in body
    evidence = re.search(r'<p id="evidence">(.*?)</p>', body, re.S).group(1)
    said = {_(p) for p in evidence_phrases()}
    assert evidence and set(html.unescape(evidence).split("; ")) <= said, evidence
    decided = "mshirika amethibitisha" if language == "sw" else "partner confirmed"
    assert f'<b id="peer-decision">{decided}</b>' in body
    kind = "aliyepatikana" if language == "sw" else "found"
    assert f"<dt>{_('kind')}</dt><dd>{kind}</dd>" in body
