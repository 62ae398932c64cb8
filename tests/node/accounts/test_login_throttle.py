"""How long a login must wait after failures: per (name, address) and per name, never per
address; an address failing over many names only has its failures held back."""

from __future__ import annotations

import pytest

from node.accounts.login_throttle import Failures, pause_after_failure, wait_seconds

NOW = 1_700_000_000


@pytest.mark.parametrize(
    ("case", "failures", "wait"),
    [
        ("no failures", Failures(), 0),
        ("four from this address", Failures(user=4, user_last=NOW, pair=4, pair_last=NOW), 0),
        ("five from this address", Failures(user=5, user_last=NOW, pair=5, pair_last=NOW), 30),
        ("six, ten seconds ago", Failures(user=6, user_last=NOW - 10, pair=6,
                                          pair_last=NOW - 10), 50),
        ("many: at most 15 minutes", Failures(user=19, user_last=NOW, pair=19, pair_last=NOW),
         900),
        ("five, long enough ago", Failures(user=5, user_last=NOW - 31, pair=5,
                                           pair_last=NOW - 31), 0),
        ("nineteen from elsewhere", Failures(user=19, user_last=NOW), 0),
        ("twenty from elsewhere", Failures(user=20, user_last=NOW), 30),
        ("a hundred from this address over other names", Failures(address=100), 0),
    ],
)  # fmt: skip
def test_the_wait_before_the_next_attempt(case, failures, wait):
    assert wait_seconds(failures, NOW) == wait, case


@pytest.mark.parametrize(
    ("address_failures", "pause"), [(0, 0.0), (19, 0.0), (20, 1.0), (28, 1.0), (29, 2.0),
                                    (39, 4.0), (49, 8.0), (10_000, 8.0)],
)  # fmt: skip
def test_failures_from_an_address_that_failed_often_are_answered_after_a_pause(
    address_failures, pause
):
    assert pause_after_failure(Failures(address=address_failures)) == pause
