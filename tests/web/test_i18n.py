"""Every text the pages show has a Swahili translation, and placeholders survive it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from node.canonical import FIELDS
from node.review import DECISIONS, OUTCOMES
from node.users import ROLES
from node.web.app import PEER_DECISIONS, STATUSES
from node.web.i18n import translator

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


@pytest.mark.parametrize("text", sorted(template_texts() | code_texts()))
def test_every_text_has_a_swahili_translation(text):
    assert SWAHILI.get(text), f"no Swahili for {text!r}"


@pytest.mark.parametrize("text", sorted(t for t in SWAHILI if "{" in t))
def test_placeholders_survive_translation(text):
    assert set(re.findall(r"{\w+}", text)) == set(re.findall(r"{\w+}", SWAHILI[text]))


def test_an_unknown_language_falls_back_to_english():
    assert translator("xx")("Review queue") == "Review queue"
    assert translator("sw")("Review queue") == "Foleni ya ukaguzi"
