"""The timeouts of store attempts fit STORE_REQUEST_BUDGET: every attempt waiting its longest
and every pause between attempts add up to the budget at most."""

from __future__ import annotations

import itertools

import pytest

from imagehost.storage.budget import s3_pauses, s3_plan, swift_pauses, swift_plan


def test_the_defaults() -> None:
    s3 = s3_plan(30, 3, connect=3, read=30)
    assert (s3.attempts, s3.connect, s3.read) == (3, 3, 6)   # 3 x 9 s + pauses of 1 and 2 s
    swift = swift_plan(30, 3, read=30)
    assert swift.attempts == 3 and swift.read == pytest.approx((30 - 0.6) / 3 / 2)


@pytest.mark.parametrize(("budget", "attempts", "connect", "read"), list(itertools.product(
    [2, 10, 30, 120], [1, 2, 3, 5, 8], [1, 3, 10], [5, 30, 300])))
def test_attempts_and_pauses_fit_the_budget(budget: float, attempts: int, connect: float,
                                            read: float) -> None:
    s3 = s3_plan(budget, attempts, connect, read)
    assert 1 <= s3.attempts <= attempts
    assert s3.attempts * (s3.connect + s3.read) + s3_pauses(s3.attempts) <= budget + 1e-9
    assert s3.connect <= connect and s3.read <= read
    swift = swift_plan(budget, attempts, read)
    assert 1 <= swift.attempts <= attempts
    # an attempt may authenticate first: two requests
    assert swift.attempts * 2 * swift.read + swift_pauses(swift.attempts) <= budget + 1e-9
    assert swift.read <= read


def test_attempts_that_would_get_less_than_a_second_are_dropped() -> None:
    assert s3_plan(10, 5, connect=3, read=30).attempts == 3      # pauses 1 + 2 s, 3 x 2.3 s
    assert swift_plan(2, 3, read=30).attempts == 1


def test_a_budget_larger_than_every_wait_changes_nothing() -> None:
    s3 = s3_plan(1000, 3, connect=3, read=30)
    assert (s3.attempts, s3.connect, s3.read) == (3, 3, 30)
    assert swift_plan(1000, 3, read=30).read == 30
