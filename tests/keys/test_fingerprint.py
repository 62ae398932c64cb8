"""Safety numbers: the same 60 digits on both sides, read in groups of five, compared exactly."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from keys import (
    FingerprintMismatch,
    check_safety_number,
    format_safety_number,
    half_fingerprint,
    safety_number,
)

# Recorded from the first implementation (a regression vector, not an independent one).
KNOWN_HALF = "440158993482703209346526939208"


def public(seed: int) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32).public_key().public_bytes_raw()


def test_both_nodes_compute_the_same_digits():
    assert safety_number(public(1), public(2)) == safety_number(public(2), public(1))


def test_safety_number_is_60_digits_made_of_two_sorted_halves():
    digits = safety_number(public(1), public(2))
    assert len(digits) == 60 and digits.isdigit()
    assert digits == "".join(sorted([half_fingerprint(public(1)), half_fingerprint(public(2))]))


def test_known_answer_so_every_version_of_tafuta_agrees():
    """A change to the derivation would make two nodes of different versions disagree."""
    assert half_fingerprint(public(1)) == KNOWN_HALF


def test_different_keys_give_different_digits():
    assert safety_number(public(1), public(2)) != safety_number(public(1), public(3))


def test_digits_are_shown_in_twelve_groups_of_five():
    shown = format_safety_number(safety_number(public(1), public(2)))
    groups = shown.split(" ")
    assert len(groups) == 12 and all(len(g) == 5 for g in groups)


@pytest.mark.parametrize(
    "typed",
    [
        lambda d: d,
        lambda d: format_safety_number(d),
        lambda d: " " + "\n".join(format_safety_number(d).split(" ")) + " ",
    ],
    ids=["plain", "in groups", "one group per line"],
)
def test_matching_digits_are_accepted_whatever_the_spacing(typed):
    digits = safety_number(public(1), public(2))
    check_safety_number(digits, typed(digits))


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        (lambda d: d[:-1] + str((int(d[-1]) + 1) % 10), "does NOT match"),
        (lambda d: d[30:] + d[:30], "does NOT match"),
        (lambda d: d[:-5], "60 digits"),
        (lambda d: d + "1", "60 digits"),
        (lambda d: d[:-1] + "x", "60 digits"),
        (lambda d: d[:-1] + "٣", "60 digits"),  # an Arabic-Indic digit three
        (lambda d: "", "60 digits"),
    ],
    ids=[
        "last digit wrong",
        "halves swapped",
        "a group missing",
        "a digit too many",
        "a letter",
        "a non-ASCII digit",
        "nothing",
    ],
)
def test_wrong_fingerprint_is_refused(typed, message):
    digits = safety_number(public(1), public(2))
    with pytest.raises(FingerprintMismatch, match=message):
        check_safety_number(digits, typed(digits))
