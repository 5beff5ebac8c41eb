"""Airflow 3.3's RetryPolicy for ScrapingPros errors (absent on 3.1/3.2, where plain retries apply)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_provider_scrapingpros import exceptions as exc
from airflow_provider_scrapingpros.tasks.retry_policy import HAVE_RETRY_POLICY, default_retry_policy

pytestmark = pytest.mark.skipif(not HAVE_RETRY_POLICY, reason="RetryPolicy arrived in Airflow 3.3")


@pytest.mark.parametrize(
    "error",
    [
        exc.ScrapingProsAuthError("bad token"),
        exc.ScrapingProsValidationError("bad field"),
        exc.ScrapingProsQuotaError("quota"),
        exc.ScrapingProsInputError("bad input"),
        exc.ScrapingProsProxyNotApprovedError("country"),
    ],
)
def test_errors_a_retry_cannot_fix_fail_at_once(error: Exception) -> None:
    from airflow.sdk.definitions.retry_policy import RetryAction

    decision = default_retry_policy().evaluate(error, try_number=1, max_tries=3)
    assert decision.action is RetryAction.FAIL
    assert decision.reason == f"{type(error).__name__} is not fixed by retrying"


def test_rate_limit_retries_after_the_servers_delay() -> None:
    from airflow.sdk.definitions.retry_policy import RetryAction

    decision = default_retry_policy().evaluate(exc.ScrapingProsRateLimitError("slow", retry_after=42), 1, 3)
    assert (decision.action, decision.retry_delay) == (RetryAction.RETRY, timedelta(seconds=42))


def test_other_errors_use_the_tasks_retries() -> None:
    from airflow.sdk.definitions.retry_policy import RetryAction

    decision = default_retry_policy().evaluate(exc.ScrapingProsServerError("502"), 1, 3)
    assert decision.action is RetryAction.DEFAULT


def test_operators_get_the_policy_unless_given_one() -> None:
    from airflow_provider_scrapingpros.operators.run import ScrapingProsRunCollectionOperator

    # The ignores: BaseOperator.retry_policy is new in Airflow 3.3, and mypy also checks this module
    # against 3.1, where it is absent (this module is skipped there).
    assert type(ScrapingProsRunCollectionOperator(task_id="r", collection_id="c").retry_policy).__name__ == (  # type: ignore[attr-defined]
        "ScrapingProsRetryPolicy"
    )
    custom = default_retry_policy()
    assert (
        ScrapingProsRunCollectionOperator(task_id="s", collection_id="c", retry_policy=custom).retry_policy  # type: ignore[attr-defined]
        is custom
    )


def test_export_errors_a_retry_cannot_fix_fail_at_once() -> None:
    """A destination holding another export, or one that cannot work, stays so on every retry."""
    from airflow.sdk.definitions.retry_policy import RetryAction

    from airflow_provider_scrapingpros.export.errors import ExportConflictError, ExportDestinationError

    for error in (ExportConflictError("taken"), ExportDestinationError("destination '' is empty")):
        decision = default_retry_policy().evaluate(error, try_number=1, max_tries=3)
        assert (decision.action, decision.reason) == (
            RetryAction.FAIL,
            f"{type(error).__name__} is not fixed by retrying",
        )


def test_export_errors_worth_a_retry_keep_the_tasks_retries() -> None:
    from airflow.sdk.definitions.retry_policy import RetryAction

    from airflow_provider_scrapingpros.export.errors import (
        ExportDestinationUnavailableError,
        ExportIncompleteError,
        ExportListingError,
    )

    for error in (
        ExportDestinationUnavailableError("s3 slow"),
        ExportListingError("x"),
        ExportIncompleteError("y"),
    ):
        assert default_retry_policy().evaluate(error, 1, 3).action is RetryAction.DEFAULT
