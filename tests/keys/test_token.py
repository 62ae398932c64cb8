"""Tokens: whole ones round-trip; cut, altered or foreign text is refused in plain words."""

from __future__ import annotations

import pytest

from keys import TOKEN_PREFIX, BadToken, decode_token, encode_token


def test_token_round_trips_to_the_same_signed_document(alice):
    token = encode_token(alice.document)
    assert token.startswith(TOKEN_PREFIX)
    assert decode_token(token).to_json() == alice.document.to_json()


def test_token_is_one_line_of_url_safe_characters(alice):
    token = encode_token(alice.document)
    body = token.removeprefix(TOKEN_PREFIX)
    assert body.replace("-", "").replace("_", "").isalnum()


def test_line_breaks_and_spaces_added_by_a_mail_program_are_ignored(alice):
    token = encode_token(alice.document)
    wrapped = "\n".join(token[i : i + 76] for i in range(0, len(token), 76))
    assert decode_token(f"  {wrapped}\n").to_json() == alice.document.to_json()


def test_the_whole_output_of_peers_invite_is_accepted(alice):
    """A coordinator may save or paste all that 'peers invite' prints, not only its last line."""
    token = encode_token(alice.document)
    printed = f"Invitation token of 'Kwale Rescue'. Send it…\n('peers fingerprint NAME')\n{token}\n"
    assert decode_token(printed).to_json() == alice.document.to_json()
    wrapped = "\n".join(token[i : i + 76] for i in range(0, len(token), 76))
    assert decode_token(f"Here is our token:\n\n{wrapped}\n").to_json() == alice.document.to_json()


def test_text_after_the_token_is_refused_as_damage(alice):
    with pytest.raises(BadToken, match="incomplete"):
        decode_token(f"Hello,\n{encode_token(alice.document)}\nRegards, Amina")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda t: "", "empty"),
        (lambda t: "hello, here is my token", "not a Tafuta token"),
        (lambda t: t[:-1], "incomplete"),
        (lambda t: t[:-40], "incomplete"),
        (lambda t: t[: len(t) // 2], "incomplete"),
        (lambda t: t[:12], "incomplete"),
        (lambda t: t[:-5] + ("A" if t[-5] != "A" else "B") + t[-4:], "incomplete"),
        (
            lambda t: t[:300] + ("x" if t[300] != "x" else "y") + t[301:],
            "incomplete",
        ),
        (lambda t: t[:100] + "*" + t[101:], "damaged"),
        (lambda t: t + "x" * 30000, "too long"),
    ],
    ids=[
        "empty",
        "not a token",
        "last character cut",
        "last 40 characters cut",
        "cut in half",
        "only the start",
        "checksum altered",
        "document altered",
        "foreign character",
        "absurdly long",
    ],
)
def test_damaged_token_is_refused(alice, damage, message):
    with pytest.raises(BadToken, match=message):
        decode_token(damage(encode_token(alice.document)))


def test_a_token_holding_deeply_nested_json_is_refused_not_a_crash():
    """Regression (reliability campaign): a token whose document was 5000 nested brackets made
    json.loads raise RecursionError, which escaped decode_token as an unexpected error."""
    import hashlib

    from keys._encoding import b64

    payload = b"[" * 5000
    token = TOKEN_PREFIX + b64(payload + hashlib.sha256(payload).digest()[:4])
    with pytest.raises(BadToken, match="does not hold a valid node document"):
        decode_token(token)
