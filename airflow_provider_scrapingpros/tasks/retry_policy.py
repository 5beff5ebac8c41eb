"""Airflow 3.3's RetryPolicy applied to ScrapingPros errors: a wrong token, an invalid request, an
exhausted monthly quota or a run over its credit budget (`ScrapingProsCostError`) fails at once
(retrying only burns time and rate limit), and so does an export into a destination that holds
another export (`ExportConflictError`) or cannot work (a bad URI, a missing bucket or connection:
`ExportDestinationError`, an input error); a rate limit retries after the delay the server asked
for. On Airflow < 3.3 there is no policy and the task's ordinary `retries` apply."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..exceptions import (
    ScrapingProsAuthError,
    ScrapingProsCostError,
    ScrapingProsInputError,
    ScrapingProsProxyNotApprovedError,
    ScrapingProsQuotaError,
    ScrapingProsRateLimitError,
    ScrapingProsValidationError,
)

# export/errors.py imports nothing but exceptions.py: no export machinery is loaded by this import.
from ..export.errors import ExportConflictError

NOT_RETRYABLE = (
    ExportConflictError,
    ScrapingProsAuthError,
    ScrapingProsCostError,
    ScrapingProsInputError,
    ScrapingProsProxyNotApprovedError,
    ScrapingProsQuotaError,
    ScrapingProsValidationError,
)

try:
    # type-ignores: mypy also runs on the 3.1 lane, where these names do not exist
    from airflow.sdk import RetryPolicy  # type: ignore[attr-defined]
    from airflow.sdk.definitions.retry_policy import RetryDecision

    HAVE_RETRY_POLICY = True
except ImportError:  # Airflow < 3.3
    HAVE_RETRY_POLICY = False


def default_retry_policy() -> Any:
    return ScrapingProsRetryPolicy() if HAVE_RETRY_POLICY else None


if HAVE_RETRY_POLICY:

    class ScrapingProsRetryPolicy(RetryPolicy):  # type: ignore[misc]
        def evaluate(
            self, exception: BaseException, try_number: int, max_tries: int, context: Any = None
        ) -> RetryDecision:
            if isinstance(exception, NOT_RETRYABLE):
                return RetryDecision.fail(reason=f"{type(exception).__name__} is not fixed by retrying")
            if isinstance(exception, ScrapingProsRateLimitError) and exception.retry_after:
                return RetryDecision.retry(
                    delay=timedelta(seconds=exception.retry_after), reason="rate limited by the API"
                )
            return RetryDecision.default()

        def serialize(self) -> dict[str, Any]:
            return {}

        @classmethod
        def deserialize(cls, data: dict[str, Any]) -> ScrapingProsRetryPolicy:
            return cls()
