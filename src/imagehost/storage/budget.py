"""The time budget of one store call: its attempts, their timeouts and the pauses between
them fit in STORE_REQUEST_BUDGET, so a stalled store costs a request the budget, not
attempts x timeouts. Attempts that would get less than a second each are dropped."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

S3_MAX_BACKOFF = 20.0
"""botocore's standard retries pause up to min(20, 2 ** (attempt - 1)) seconds."""
SWIFT_FIRST_BACKOFF, SWIFT_MAX_BACKOFF = 0.2, 2.0
"""The pauses the Swift stores ask of swiftclient: 0.2 s, doubling, at most 2 s."""
SHORTEST_ATTEMPT = 1.0
SHORTEST_TIMEOUT = 0.1


@dataclass(frozen=True)
class AttemptPlan:
    attempts: int
    connect: float
    read: float
    """Swift has one timeout for both: `read`."""


def s3_plan(budget: float, attempts: int, connect: float, read: float) -> AttemptPlan:
    """boto3 waits at most connect + read per attempt."""
    attempts, share = _fit(budget, attempts, s3_pauses)
    connect = max(SHORTEST_TIMEOUT, min(connect, share / 2))
    return AttemptPlan(attempts, connect, max(SHORTEST_TIMEOUT, min(read, share - connect)))


def swift_plan(budget: float, attempts: int, read: float) -> AttemptPlan:
    """swiftclient has one timeout for connecting and each read, and an attempt may
    authenticate first: two requests."""
    attempts, share = _fit(budget, attempts, swift_pauses)
    timeout = max(SHORTEST_TIMEOUT, min(read, share / 2))
    return AttemptPlan(attempts, timeout, timeout)


def s3_pauses(attempts: int) -> float:
    return sum(min(S3_MAX_BACKOFF, 2.0 ** n) for n in range(attempts - 1))


def swift_pauses(attempts: int) -> float:
    return sum(min(SWIFT_FIRST_BACKOFF * 2 ** n, SWIFT_MAX_BACKOFF)
               for n in range(attempts - 1))


def _fit(budget: float, attempts: int, pauses: Callable[[int], float]) -> tuple[int, float]:
    """The most attempts (up to `attempts`) that each get SHORTEST_ATTEMPT once the pauses
    between them are set aside, and what each may take."""
    while attempts > 1 and _share(budget, attempts, pauses) < SHORTEST_ATTEMPT:
        attempts -= 1
    return attempts, _share(budget, attempts, pauses)


def _share(budget: float, attempts: int, pauses: Callable[[int], float]) -> float:
    return max(budget - pauses(attempts), 0.0) / attempts
