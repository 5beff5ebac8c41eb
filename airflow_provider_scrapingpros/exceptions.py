"""Every public error of the provider, in one leaf module (it imports nothing of the package), so
DAG code, the Airflow-free client and the tasks all catch the same classes.

* The HTTP classes follow the API's status codes (docs/api-notes.md#errors); the mapping from an
  answer to a class lives in `client/errors.py`. A typed `/result` 404 is a
  `ScrapingProsNotFoundError` too, so code that only cares about "not there" can catch the parent.
* Messages say what happened *and what to do next*, and never carry the token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class ScrapingProsError(Exception):
    """Base class. `status_code` is None for errors raised before or without an HTTP answer."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        detail: Any = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.detail = detail
        self.method = method
        self.path = path


class ScrapingProsAuthError(ScrapingProsError):
    """401: the API token is missing, wrong or revoked."""


class ScrapingProsProxyNotApprovedError(ScrapingProsError):
    """403: the requested proxy country is not approved for this account."""


class ScrapingProsValidationError(ScrapingProsError):
    """422 (or a local check before sending). `errors` holds `(field path, message)` pairs."""

    def __init__(self, message: str, *, errors: list[tuple[str, str]] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.errors = errors or []


class ScrapingProsURLBlockedError(ScrapingProsValidationError):
    """422 `URL blocked` on sync scrape: the target is not a public http(s) URL."""


class ScrapingProsNotFoundError(ScrapingProsError):
    """404: unknown, deleted or another account's resource."""


class ScrapingProsRateLimitError(ScrapingProsError):
    """429 rate limit; `retry_after` is how long the server asked to wait (seconds), if it said."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ScrapingProsQuotaError(ScrapingProsError):
    """429 with `quota`: the monthly credits are used up. Never retried."""


class ScrapingProsResultError(ScrapingProsNotFoundError):
    """Typed 404 on GET …/result (docs/api-notes.md#results)."""

    def __init__(
        self,
        message: str,
        *,
        error_code: str | None = None,
        completed_at: datetime | None = None,
        age_hours: float | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.error_code = error_code
        self.completed_at = completed_at
        self.age_hours = age_hours


class ResultPendingError(ScrapingProsResultError):
    """The job is still processing."""


class ResultExpiredError(ScrapingProsResultError):
    """The body is past its 48 h retention."""


class ResultLostError(ScrapingProsResultError):
    """The API lost the body within retention."""


class JobNotFoundError(ScrapingProsResultError):
    """The job id is not part of this run."""


class ScrapingProsServerError(ScrapingProsError):
    """5xx after the retry budget ran out."""


class ScrapingProsTransportError(ScrapingProsError):
    """No HTTP answer: connection refused, dropped, or timed out (after the retry budget)."""


class ScrapingProsResponseError(ScrapingProsError):
    """A success status with a body that does not match the API's schema (fail closed)."""


# -------------------------------------------------------------------------------------------------
# Task-level errors raised by the operators (not by the HTTP core).


class ScrapingProsInputError(ScrapingProsValidationError, ValueError):
    """Bad input found before any API call (request specs, names, files, parameters); `errors`
    holds `(field path, message)` pairs where the input had fields."""


class ScrapingProsRunFailedError(ScrapingProsError):
    """The run ended `failed`/`cancelled`, or broke the task's `max_failed_ratio`."""


class ScrapingProsWaitTimeoutError(ScrapingProsError):
    """The task stopped waiting at a deadline; `deadline` is `timeout` or `execution_timeout`."""

    def __init__(self, message: str, *, deadline: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.deadline = deadline


class ScrapingProsCostError(ScrapingProsError):
    """A run was not started: its estimated cost is over the task's `max_credits` or over the credits
    the account has left. Never retried (waiting does not make a run cheaper)."""
