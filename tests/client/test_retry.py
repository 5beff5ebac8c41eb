"""Retry decisions (client/retry.py): a pure function of request safety, attempt and outcome."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime

import pytest

from airflow_provider_scrapingpros.client.retry import (
    AttemptAction,
    AttemptOutcome,
    Failure,
    RetrySettings,
    Safety,
    backoff_delay,
    decide,
    parse_retry_after,
    safety_for,
)

S = RetrySettings(max_retries=3, backoff_base=0.5, backoff_cap=4.0, retry_after_cap=60.0)


@pytest.mark.parametrize(
    ("safety", "outcome", "action"),
    [
        (Safety.IDEMPOTENT, AttemptOutcome(status=200), AttemptAction.DONE),
        (Safety.CREATE_RUN, AttemptOutcome(status=201), AttemptAction.DONE),
        (Safety.IDEMPOTENT, AttemptOutcome(status=503), AttemptAction.RETRY),
        (Safety.IDEMPOTENT, AttemptOutcome(status=429, retry_after=1), AttemptAction.RETRY),
        (Safety.IDEMPOTENT, AttemptOutcome(failure=Failure.TIMEOUT), AttemptAction.RETRY),
        (Safety.IDEMPOTENT, AttemptOutcome(failure=Failure.DROPPED), AttemptAction.RETRY),
        (Safety.IDEMPOTENT, AttemptOutcome(failure=Failure.CONNECT), AttemptAction.RETRY),
        (Safety.CREATE_RUN, AttemptOutcome(status=502), AttemptAction.RECONCILE),
        (Safety.CREATE_RUN, AttemptOutcome(failure=Failure.TIMEOUT), AttemptAction.RECONCILE),
        (Safety.CREATE_RUN, AttemptOutcome(failure=Failure.DROPPED), AttemptAction.RECONCILE),
        (Safety.CREATE_RUN, AttemptOutcome(failure=Failure.CONNECT), AttemptAction.RETRY),
        (Safety.CREATE_RUN, AttemptOutcome(status=429, retry_after=1), AttemptAction.RETRY),
        (Safety.UNSAFE, AttemptOutcome(status=500), AttemptAction.GIVE_UP),
        (Safety.UNSAFE, AttemptOutcome(failure=Failure.DROPPED), AttemptAction.GIVE_UP),
        (Safety.UNSAFE, AttemptOutcome(failure=Failure.CONNECT), AttemptAction.RETRY),
        (Safety.IDEMPOTENT, AttemptOutcome(status=429, retry_after=1, quota=True), AttemptAction.GIVE_UP),
        (Safety.IDEMPOTENT, AttemptOutcome(status=401), AttemptAction.GIVE_UP),
        (Safety.IDEMPOTENT, AttemptOutcome(status=404), AttemptAction.GIVE_UP),
        (Safety.IDEMPOTENT, AttemptOutcome(status=422), AttemptAction.GIVE_UP),
    ],
)
def test_decision_table(safety: Safety, outcome: AttemptOutcome, action: AttemptAction) -> None:
    assert decide(safety, 0, outcome, S, rand=0.5).action is action


def test_retries_stop_after_max_retries() -> None:
    assert decide(Safety.IDEMPOTENT, 2, AttemptOutcome(status=500), S, rand=0.0).action is AttemptAction.RETRY
    last = decide(Safety.IDEMPOTENT, 3, AttemptOutcome(status=500), S, rand=0.0)
    assert last.action is AttemptAction.GIVE_UP
    assert last.reason == "gave up after 4 attempts"


def test_backoff_is_jittered_exponential_and_capped() -> None:
    assert [backoff_delay(a, S, 0.0) for a in range(6)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert [backoff_delay(a, S, 1.0) for a in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert decide(Safety.IDEMPOTENT, 1, AttemptOutcome(status=502), S, rand=0.5).delay == 0.75


def test_retry_after_is_honoured_never_shortened() -> None:
    low = decide(Safety.IDEMPOTENT, 0, AttemptOutcome(status=429, retry_after=7), S, rand=0.0)
    high = decide(Safety.IDEMPOTENT, 0, AttemptOutcome(status=429, retry_after=7), S, rand=1.0)
    assert (low.action, low.delay, high.delay) == (AttemptAction.RETRY, 7.0, 8.0)  # jitter bounded to +1 s


def test_retry_after_over_the_cap_gives_up_and_says_how_long() -> None:
    decision = decide(Safety.IDEMPOTENT, 0, AttemptOutcome(status=429, retry_after=300), S, rand=0.0)
    assert decision.action is AttemptAction.GIVE_UP
    assert decision.reason == "server asked to wait 300 s, over the 60 s cap"


@pytest.mark.parametrize(
    ("method", "path", "keyed", "safety"),
    [
        ("GET", "/v1/async/collections", False, Safety.IDEMPOTENT),
        ("PUT", "/v1/async/collections/c", False, Safety.IDEMPOTENT),
        ("DELETE", "/v1/async/collections/c", False, Safety.IDEMPOTENT),
        ("POST", "/v1/async/collections", True, Safety.IDEMPOTENT),
        ("POST", "/v1/async/collections", False, Safety.UNSAFE),
        ("POST", "/v1/async/collections/c/run", False, Safety.CREATE_RUN),
        ("POST", "/v1/sync/scrape", False, Safety.IDEMPOTENT),
    ],
)
def test_safety_by_method_and_path(method: str, path: str, keyed: bool, safety: Safety) -> None:
    assert safety_for(method, path, keyed) is safety


def test_retry_after_seconds_and_http_date() -> None:
    now = 1_800_000_000.0
    in_30s = format_datetime(datetime.fromtimestamp(now + 30, timezone.utc), usegmt=True)
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(in_30s, now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
