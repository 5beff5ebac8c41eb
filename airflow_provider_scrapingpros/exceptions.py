"""Typed errors of the ScrapingPros hook, and the one mapping from an HTTP error response to them.

Design decisions:

* Every message says what happened *and what to do next*, and names the request (method + path,
  which carry ids but never credentials). The token never appears: messages are built from the
  status, the server's `detail` (passed through `redact` first) and our own text.
* The classes mirror contract §3.1 / §7. A typed `/result` 404 is a `ScrapingProsNotFoundError`
  too, so code that only cares about "not there" can catch the parent.
* `error_for_response` is pure (status, headers, body in; exception out) so the core and its tests
  use it without I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from .models import field_path


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
    """Typed 404 on GET …/result (contract §7)."""

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
    """A success status with a body that does not match the contract (fail closed)."""


# --------------------------------------------------------------------------------------------------

_RESULT_ERRORS: dict[str, tuple[type[ScrapingProsResultError], str]] = {
    "result_pending": (ResultPendingError, "The job is still processing: wait until it is terminal."),
    "result_expired": (
        ResultExpiredError,
        "Result bodies are kept 48 h after completion; export sooner, or run the collection again.",
    ),
    "result_lost": (ResultLostError, "The API lost this body: run the URL again to get it."),
    "job_id_invalid": (JobNotFoundError, "This job id is not part of the run: check the job id."),
}


def _parse_detail(body: bytes) -> Any:
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")[:500] or None
    return data.get("detail", data) if isinstance(data, dict) else data


def _validation_errors(detail: Any) -> list[tuple[str, str]]:
    if not isinstance(detail, list):
        return []
    errors: list[tuple[str, str]] = []
    for item in detail:
        if isinstance(item, Mapping):
            loc = tuple(p for p in item.get("loc", ()) if isinstance(p, (str, int)))
            if loc[:1] in (("body",), ("query",), ("path",)):
                loc = loc[1:]  # FastAPI-style prefix: not part of what the user wrote
            errors.append((field_path(loc), str(item.get("msg", ""))))
    return errors


def _result_error(
    detail: Mapping[str, Any], method: str, path: str, redact: Callable[[str], str]
) -> ScrapingProsResultError:
    code = str(detail.get("error_code", ""))
    cls, hint = _RESULT_ERRORS.get(code, (ScrapingProsResultError, "Check the collection, run and job ids."))
    completed_raw = detail.get("completed_at")
    completed = None
    if isinstance(completed_raw, str):
        try:
            completed = datetime.fromisoformat(completed_raw.replace("Z", "+00:00"))
        except ValueError:
            completed = None
    age = detail.get("age_hours")
    age_hours = float(age) if isinstance(age, (int, float)) else None
    extra = f" (completed_at {completed_raw}, {age_hours:.1f} h ago)" if age_hours is not None else ""
    server_msg = redact(str(detail.get("message") or code))
    return cls(
        f"{method} {path}: {code or 'not found'}: {server_msg}{extra}. {hint}",
        error_code=code or None,
        completed_at=completed,
        age_hours=age_hours,
        status_code=404,
        detail=dict(detail),
        method=method,
        path=path,
    )


def error_for_response(
    status: int,
    body: bytes,
    *,
    method: str,
    path: str,
    retry_after: float | None,
    redact: Callable[[str], str],
    attempts: int = 1,
    auth_hint: str = "the API token (the connection's password)",
) -> ScrapingProsError:
    """Map one HTTP error answer to its typed exception (contract §3.1, §7, §12)."""
    detail = _parse_detail(body)
    text = redact(detail if isinstance(detail, str) else json.dumps(detail, default=str))
    where = f"{method} {path}"
    kw: dict[str, Any] = {"status_code": status, "detail": detail, "method": method, "path": path}
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    if status == 401:
        return ScrapingProsAuthError(
            f"ScrapingPros rejected the API token on {where} (401: {text}). Check {auth_hint}: "
            "it must be a valid, active ScrapingPros token.",
            **kw,
        )
    if status == 403:
        return ScrapingProsProxyNotApprovedError(
            f"{where}: proxy country not approved (403: {text}). Request approval for that country in "
            "your ScrapingPros account, or use use_proxy='any'.",
            **kw,
        )
    if status == 422:
        errors = _validation_errors(detail)
        listed = "; ".join(f"{f}: {redact(m)}" for f, m in errors) if errors else text
        if "url blocked" in text.lower() or "ssrf" in text.lower():
            return ScrapingProsURLBlockedError(
                f"{where}: URL blocked (422: {listed}). Only public http(s) URLs can be scraped.",
                errors=errors,
                **kw,
            )
        hint = (
            "Use a new Idempotency-Key, or resend the original body."
            if "idempotency-key" in text.lower()
            else "Fix the named field(s) and try again."
        )
        return ScrapingProsValidationError(
            f"{where}: request rejected (422): {listed}. {hint}", errors=errors, **kw
        )
    if status == 404:
        if isinstance(detail, Mapping) and "error_code" in detail:
            return _result_error(detail, method, path, redact)
        return ScrapingProsNotFoundError(
            f"{where}: not found (404: {text}). The id is unknown, deleted, or belongs to another "
            "account: check the id and the connection's token.",
            **kw,
        )
    if status == 429:
        if "quota" in text.lower():
            return ScrapingProsQuotaError(
                f"{where}: monthly credit quota exhausted (429: {text}). Wait for the monthly reset or "
                "upgrade the plan; the hook does not retry this.",
                **kw,
            )
        wait = f"the server asked to wait {retry_after:g} s" if retry_after is not None else "no Retry-After"
        return ScrapingProsRateLimitError(
            f"{where}: rate limited (429: {text}){tries}; {wait}. Retry later, lower the number of "
            "concurrent tasks using this token, or raise the hook's retry_after_cap.",
            retry_after=retry_after,
            **kw,
        )
    if status >= 500:
        return ScrapingProsServerError(
            f"{where}: ScrapingPros server error {status}{tries} ({text}). The API may be degraded: "
            "retry the task later.",
            **kw,
        )
    return ScrapingProsError(f"{where}: unexpected HTTP {status} ({text}).", **kw)


# -------------------------------------------------------------------------------------------------
# Task-level errors raised by the operators (not by the HTTP core).


class ScrapingProsInputError(ScrapingProsError, ValueError):
    """Bad task input found before any API call (request specs, names, files, parameters)."""


class ScrapingProsRunFailedError(ScrapingProsError):
    """The run ended `failed`/`cancelled`, or broke the task's `max_failed_ratio`."""


class ScrapingProsWaitTimeoutError(ScrapingProsError):
    """The task stopped waiting at a deadline; `deadline` is `timeout` or `execution_timeout`."""

    def __init__(self, message: str, *, deadline: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.deadline = deadline
