"""The match-notice and review-decision payloads: exactly their fields, each valid, or refused."""

from __future__ import annotations

import pytest

from protocol.errors import BadPayload
from protocol.messages import validate

NOTICE = {
    "match_id": "a" * 32,
    "score": 0.8123,
    "evidence": "two names sound the same, in any order; same home district",
    "receiver_pseudonym": "A" * 22,
    "sender_pseudonym": "B" * 21 + "A",
}


def test_a_match_notice_and_its_withdrawal_are_valid():
    assert validate("match-notice", NOTICE) == NOTICE
    validate("match-notice", {**NOTICE, "score": 0, "evidence": ""})


@pytest.mark.parametrize(
    "change",
    [
        {"score": 1.5},
        {"score": -0.1},
        {"score": True},
        {"score": "0.9"},
        {"evidence": "x" * 501},
        {"receiver_pseudonym": "short"},
        {"sender_pseudonym": None},
        {"match_id": "Z" * 32},
        {"extra": 1},
    ],
)
def test_a_bad_match_notice_is_refused(change):
    with pytest.raises(BadPayload):
        validate("match-notice", {**NOTICE, **change})


def test_a_match_notice_without_its_pseudonyms_is_refused():
    with pytest.raises(BadPayload):
        validate("match-notice", {"match_id": "a" * 32, "score": 0.5})
