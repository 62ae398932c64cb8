"""Message schemas refuse what is not exactly their shape: a boolean where a number belongs,
and any second base64url spelling of a pseudonym, blinded key or key id."""

from __future__ import annotations

import base64
import secrets

import pytest

from keys._encoding import unb64 as keys_unb64
from protocol.envelope import b64, unb64
from protocol.errors import BadPayload
from protocol.messages import canonical_base64url, validate

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
MATCH_ID = "0" * 32


def second_spelling(text: str) -> str:
    """The same bytes with the lowest unused bit of the last character set."""
    other = text[:-1] + ALPHABET[ALPHABET.index(text[-1]) | 1]
    assert other != text
    assert base64.urlsafe_b64decode(other + "=" * (-len(other) % 4)) == base64.urlsafe_b64decode(
        text + "=" * (-len(text) % 4)
    )
    return other


def canonical(nbytes: int) -> str:
    """Random bytes in their one canonical spelling."""
    return b64(secrets.token_bytes(nbytes))


ONLY_IN_KEYS = ("announced_records", "evaluation")  # blinded-keys fields a reply does not have


def blinded_keys(p: str, key: str) -> dict:
    return {"keyset": 1, "batch": "b1", "records": [{"p": p, "k": [["name_dob", key]]}],
            "announced_records": 1, "evaluation": "both"}  # fmt: skip


@pytest.mark.parametrize(
    ("score", "accepted"),
    [(0, True), (1, True), (0.5, True), (True, False), (False, False), ("0.5", False),
     (1.5, False), (-0.1, False), (float("nan"), False), (None, False)],
)  # fmt: skip
def test_a_match_notice_score_is_a_number_in_zero_to_one_never_a_boolean(score, accepted):
    payload = {"match_id": MATCH_ID, "score": score, "evidence": "",
               "receiver_pseudonym": "A" * 22, "sender_pseudonym": "B" * 21 + "A"}  # fmt: skip
    if accepted:
        assert validate("match-notice", payload) == payload
    else:
        with pytest.raises(BadPayload, match="score"):
            validate("match-notice", payload)


@pytest.mark.parametrize(
    ("message_type", "build", "field"),
    [
        ("blinded-keys", lambda p, k: blinded_keys(second_spelling(p), k), "records"),
        ("blinded-keys", lambda p, k: blinded_keys(p, second_spelling(k)), "records"),
        ("blinded-reply", lambda p, k: {k2: v for k2, v in blinded_keys(p, second_spelling(k))
                                        .items() if k2 not in ONLY_IN_KEYS}, "records"),
        ("retraction", lambda p, k: {"pseudonyms": [second_spelling(p)]}, "pseudonyms"),
    ],
    ids=["pseudonym", "blinded key", "reply's blinded key", "retracted pseudonym"],
)  # fmt: skip
def test_a_second_base64_spelling_is_refused_where_the_first_is_accepted(
    message_type, build, field
):
    p, k = canonical(16), canonical(32)
    canonical_payload = {
        "blinded-keys": blinded_keys(p, k),
        "blinded-reply": {k2: v for k2, v in blinded_keys(p, k).items()
                          if k2 not in ONLY_IN_KEYS},
        "retraction": {"pseudonyms": [p]},
    }[message_type]  # fmt: skip
    assert validate(message_type, canonical_payload)
    with pytest.raises(BadPayload, match=field):
        validate(message_type, build(p, k))


def test_keys_base64_refuses_a_second_spelling_of_the_same_bytes():
    """Invitation tokens, node documents and key files decode through keys._encoding."""
    text = canonical(16)
    assert keys_unb64(text) == keys_unb64(text)
    with pytest.raises(ValueError, match="canonical"):
        keys_unb64(second_spelling(text))


@pytest.mark.parametrize("nbytes", [16, 32])
def test_the_schema_accepts_exactly_the_spellings_the_decoder_accepts(nbytes):
    """The schema checks a key's spelling without decoding it (keys are decoded once, after);
    for every last character it must agree with the decoder's canonical rule."""
    pattern = canonical_base64url(nbytes)
    for _ in range(200):
        text = canonical(nbytes)
        for last in ALPHABET:
            spelling = text[:-1] + last
            try:
                decodes = bool(unb64(spelling))
            except ValueError:
                decodes = False
            assert (pattern.match(spelling) is not None) == decodes, spelling
        assert pattern.match(text + "\n") is None
        assert pattern.match(text[:-1]) is None


@pytest.mark.parametrize(
    ("evaluation", "accepted"),
    [("both", True), ("ours", True), ("theirs", True), ("linker", True), ("mine", False),
     ("", False), (None, False), (["ours"], False), (1, False)],
)  # fmt: skip
def test_a_blinded_keys_batch_announces_one_of_the_known_evaluations(evaluation, accepted):
    payload = {**blinded_keys(canonical(16), canonical(32)), "evaluation": evaluation}
    if accepted:
        assert validate("blinded-keys", payload) == payload
    else:
        with pytest.raises(BadPayload):
            validate("blinded-keys", payload)


def a_notice(**change) -> dict:
    notice = {"match_id": "0" * 32, "score": 0.9, "evidence": "same birth year",
              "receiver_pseudonym": canonical(16), "sender_pseudonym": canonical(16)}  # fmt: skip
    return {**notice, **change}


@pytest.mark.parametrize(
    ("notices", "accepted"),
    [
        ([a_notice()], True),
        ([a_notice(), a_notice(score=0, evidence="")], True),
        ([], True),
        ([a_notice(score=True)], False),  # a boolean is no score, in a batch too
        ([a_notice(), {**a_notice(), "extra": 1}], False),
        ([a_notice(receiver_pseudonym="A" * 21)], False),
        ("not a list", False),
        ([a_notice()] * 5_001, False),  # more than a batch may carry
    ],
)
def test_a_batch_of_match_notices_is_checked_notice_by_notice(notices, accepted):
    if accepted:
        assert validate("match-notices", {"notices": notices})
    else:
        with pytest.raises(BadPayload):
            validate("match-notices", {"notices": notices})
