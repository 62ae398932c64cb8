"""Every text the pages show has a Swahili translation, and placeholders survive it: the
templates' texts, the values they translate (statuses, kinds, decisions), every phrase the matcher
may write into an evidence sentence, and what the pages of a real node say in Swahili."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from matching.keys import CANDIDATE_KEY_TYPES, KEY_TYPES
from node.accounts.users import ROLES
from node.canonical import FIELDS
from node.review.rules import DECISIONS, OUTCOMES
from node.testing.web import WebClient
from node.web.app import PEER_DECISIONS, STATUSES
from node.web.i18n import translator
from node.web.words import say_evidence, say_key, say_value, words_texts

WEB = Path(__file__).resolve().parents[2] / "node" / "web"
SWAHILI = json.loads((WEB / "locale" / "sw.json").read_text(encoding="utf-8"))
LITERAL = re.compile(r'_\("((?:[^"\\]|\\.)*)"')


def template_texts() -> set[str]:
    return {t for f in (WEB / "templates").glob("*.html") for t in LITERAL.findall(f.read_text())}


def code_texts() -> set[str]:
    """Texts the templates translate from values: statuses, fields, roles, kinds, outcomes."""
    return {*STATUSES, *FIELDS, *ROLES, *DECISIONS, *OUTCOMES, *PEER_DECISIONS.values(),
            "missing", "found", "pending",
            "trusted", "revoked", "undo", "close"}  # fmt: skip


@pytest.mark.parametrize("text", sorted(template_texts() | code_texts() | words_texts()))
def test_every_text_has_a_swahili_translation(text):
    assert SWAHILI.get(text), f"no Swahili for {text!r}"


@pytest.mark.parametrize("text", sorted(t for t in SWAHILI if "{" in t))
def test_placeholders_survive_translation(text):
    assert set(re.findall(r"{\w+}", text)) == set(re.findall(r"{\w+}", SWAHILI[text]))


def test_an_unknown_language_falls_back_to_english():
    assert translator("xx")("Review queue") == "Review queue"
    assert translator("sw")("Review queue") == "Foleni ya ukaguzi"


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_every_key_type_in_use_is_said_in_words_not_as_a_code(key_type):
    for language in ("en", "sw"):
        words = say_key(key_type, translator(language))
        assert words and "_" not in words and words != key_type


def test_a_key_type_of_another_key_set_is_left_out_rather_than_shown_as_a_code():
    assert say_key("xyz_mph_yw", translator("en")) == ""
    assert all(say_key(k, translator("en")) for k in CANDIDATE_KEY_TYPES if k in KEY_TYPES)


@pytest.mark.parametrize(
    ("evidence", "swahili"),
    [
        ("two names sound the same, in any order; same birth year",
         "majina mawili yanasikika sawa, kwa mpangilio wowote; mwaka wa kuzaliwa ni uleule"),
        ("same names, in any order; sex differs; another candidate fits as well or better",
         "majina yaleyale, kwa mpangilio wowote; jinsia inatofautiana; kumbukumbu nyingine "
         "inalingana vilevile au zaidi"),
        ("no evidence", "hakuna ushahidi"),
    ],
)  # fmt: skip
def test_evidence_sentences_are_said_in_swahili_phrase_by_phrase(evidence, swahili):
    assert say_evidence(evidence, translator("sw")) == swahili
    assert say_evidence(evidence, translator("en")) == evidence


@pytest.mark.parametrize(
    ("field", "value", "swahili"),
    [("kind", "missing", "aliyepotea"), ("kind", "found", "aliyepatikana"),
     ("sex", "F", "mwanamke"), ("sex", "M", "mwanaume"), ("given_names", "Asha", "Asha")],
)  # fmt: skip
def test_record_kinds_and_sex_are_words_in_the_pages_language(field, value, swahili):
    assert say_value(field, value, translator("sw")) == swahili


def swahili_admin(served) -> WebClient:
    client = WebClient(served.url)
    assert client.login("neema").status == 303
    token = client.get("/queue").csrf()
    reply = client.post("/language", {"csrf": token, "language": "sw", "next": "/queue"})
    assert reply.status == 303
    return client


def test_every_page_of_a_node_is_shown_in_swahili_without_a_missing_text(served):
    """A text passed to the translator that has no Swahili is logged by the node; none may be."""
    client = swahili_admin(served)
    ref = "KW-2024-0113"
    pages = [
        *("/queue", "/queue?status=all", "/records", f"/records/{ref}", f"/records/{ref}/edit"),
        *("/records/new", "/import", "/duplicates", "/directory", "/stats", "/peers", "/audit"),
    ]
    for page in pages:
        reply = client.get(page)
        assert reply.status == 200, page
        assert '<html lang="sw">' in reply.body, page
    anonymous = WebClient(served.url)
    assert "Ingia" in anonymous.get("/login?lang=sw").body
    record = client.get(f"/records/{ref}").body
    assert "<dt>aina</dt><dd>aliyepotea" in record and "<dt>jinsia</dt><dd>mwanamke" in record
    duplicates = client.get("/duplicates").body
    assert "majina" in duplicates or "hakuna" in duplicates.lower()
    log = served.log.read_text(encoding="utf-8", errors="replace")
    assert "no sw translation" not in log, log[-2000:]


class TestLoginPageLanguage:
    def test_the_login_page_offers_both_languages(self, served):
        body = WebClient(served.url).get("/login").body
        assert 'href="/login?lang=sw' in body and "Kiswahili" in body

    def test_choosing_swahili_on_the_login_page_is_remembered_and_kept_after_login(self, served):
        visitor = WebClient(served.url)
        chosen = visitor.get("/login?lang=sw")
        assert '<html lang="sw">' in chosen.body and "Ingia" in chosen.body
        assert visitor.cookie("tafuta_language") == "sw"
        assert '<html lang="sw">' in visitor.get("/login").body
        assert visitor.login("juma").status == 303
        assert "Foleni ya ukaguzi" in visitor.get("/queue").body

    @pytest.mark.parametrize("lang", ["xx", "", "../en"])
    def test_an_unknown_language_leaves_the_page_in_english(self, served, lang):
        visitor = WebClient(served.url)
        reply = visitor.get(f"/login?lang={lang}")
        assert reply.status == 200 and '<html lang="en">' in reply.body
        assert visitor.cookie("tafuta_language") is None


def test_a_fixed_problem_message_is_shown_in_swahili(served):
    client = swahili_admin(served)
    token = client.get("/records/KW-2024-0113").csrf()
    reply = client.post("/records/KW-2024-0113/retract", {"csrf": token, "reason": ""})
    assert reply.status == 400
    assert "toa sababu ya kuondoa kumbukumbu" in reply.body
