"""From one HTTP error answer to its typed exception: a pure function (status, body in; exception
out), so the retry loop and its tests use it without I/O.

The mapping is a table of rules, read top to bottom, first match wins (docs/api-notes.md#errors).
Every message names the request (method + path: ids, never credentials) and says what to do next;
the server's text goes through `redact` first, so the token cannot come back in an echo.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..exceptions import (
    JobNotFoundError,
    ResultExpiredError,
    ResultLostError,
    ResultPendingError,
    ScrapingProsAuthError,
    ScrapingProsError,
    ScrapingProsNotFoundError,
    ScrapingProsProxyNotApprovedError,
    ScrapingProsQuotaError,
    ScrapingProsRateLimitError,
    ScrapingProsResultError,
    ScrapingProsServerError,
    ScrapingProsURLBlockedError,
    ScrapingProsValidationError,
)
from .models import user_field_path


@dataclass(frozen=True)
class ErrorAnswer:
    """What the rules look at; `text` is the redacted server detail, `lower` its lower case."""

    status: int
    text: str
    detail: Any

    @property
    def lower(self) -> str:
        return self.text.lower()


@dataclass(frozen=True)
class ErrorRule:
    matches: Callable[[ErrorAnswer], bool]
    cls: type[ScrapingProsError]
    # str.format fields: where, text, listed, tries, wait, auth_hint
    message: str


ERROR_RULES: tuple[ErrorRule, ...] = (
    ErrorRule(
        lambda a: a.status == 401,
        ScrapingProsAuthError,
        "ScrapingPros rejected the API token on {where} (401: {text}). Check {auth_hint}: "
        "it must be a valid, active ScrapingPros token.",
    ),
    ErrorRule(
        lambda a: a.status == 403,
        ScrapingProsProxyNotApprovedError,
        "{where}: proxy country not approved (403: {text}). Request approval for that country in "
        "your ScrapingPros account, or use use_proxy='any'.",
    ),
    ErrorRule(
        lambda a: a.status == 422 and ("url blocked" in a.lower or "ssrf" in a.lower),
        ScrapingProsURLBlockedError,
        "{where}: URL blocked (422: {listed}). Only public http(s) URLs can be scraped.",
    ),
    ErrorRule(
        lambda a: a.status == 422 and "idempotency-key" in a.lower,
        ScrapingProsValidationError,
        "{where}: request rejected (422): {listed}. Use a new Idempotency-Key, or resend the original body.",
    ),
    ErrorRule(
        lambda a: a.status == 422,
        ScrapingProsValidationError,
        "{where}: request rejected (422): {listed}. Fix the named field(s) and try again.",
    ),
    ErrorRule(
        lambda a: a.status == 404,
        ScrapingProsNotFoundError,
        "{where}: not found (404: {text}). The id is unknown, deleted, or belongs to another "
        "account: check the id and the connection's token.",
    ),
    ErrorRule(
        lambda a: a.status == 429 and "quota" in a.lower,
        ScrapingProsQuotaError,
        "{where}: monthly credit quota exhausted (429: {text}). Wait for the monthly reset or "
        "upgrade the plan; the hook does not retry this.",
    ),
    ErrorRule(
        lambda a: a.status == 429,
        ScrapingProsRateLimitError,
        "{where}: rate limited (429: {text}){tries}; {wait}. Retry later, lower the number of "
        "concurrent tasks using this token, or raise the hook's retry_after_cap.",
    ),
    ErrorRule(
        lambda a: a.status >= 500,
        ScrapingProsServerError,
        "{where}: ScrapingPros server error {status}{tries} ({text}). The API may be degraded: "
        "retry the task later.",
    ),
    ErrorRule(lambda a: True, ScrapingProsError, "{where}: unexpected HTTP {status} ({text})."),
)

# Typed 404s of GET …/result, by `error_code` (docs/api-notes.md#results).
RESULT_ERRORS: dict[str, tuple[type[ScrapingProsResultError], str]] = {
    "result_pending": (ResultPendingError, "The job is still processing: wait until it is terminal."),
    "result_expired": (
        ResultExpiredError,
        "Result bodies are kept 48 h after completion; export sooner, or run the collection again.",
    ),
    "result_lost": (ResultLostError, "The API lost this body: run the URL again to get it."),
    "job_id_invalid": (JobNotFoundError, "This job id is not part of the run: check the job id."),
}


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
    """Map one HTTP error answer to its typed exception."""
    detail = _parse_detail(body)
    where = f"{method} {path}"
    kw: dict[str, Any] = {"status_code": status, "detail": detail, "method": method, "path": path}
    if status == 404 and isinstance(detail, Mapping) and "error_code" in detail:
        return _result_error(detail, where, redact, kw)
    answer = ErrorAnswer(
        status, redact(detail if isinstance(detail, str) else json.dumps(detail, default=str)), detail
    )
    rule = next(r for r in ERROR_RULES if r.matches(answer))
    errors = _validation_errors(detail) if status == 422 else []
    message = rule.message.format(
        where=where,
        status=status,
        text=answer.text,
        listed="; ".join(f"{f}: {redact(m)}" for f, m in errors) if errors else answer.text,
        tries=f" after {attempts} attempts" if attempts > 1 else "",
        wait=f"the server asked to wait {retry_after:g} s" if retry_after is not None else "no Retry-After",
        auth_hint=auth_hint,
    )
    if issubclass(rule.cls, ScrapingProsValidationError):
        return rule.cls(message, errors=errors, **kw)
    if issubclass(rule.cls, ScrapingProsRateLimitError):
        return rule.cls(message, retry_after=retry_after, **kw)
    return rule.cls(message, **kw)


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
            errors.append((user_field_path(loc), str(item.get("msg", ""))))
    return errors


def _result_error(
    detail: Mapping[str, Any], where: str, redact: Callable[[str], str], kw: dict[str, Any]
) -> ScrapingProsResultError:
    code = str(detail.get("error_code", ""))
    cls, hint = RESULT_ERRORS.get(code, (ScrapingProsResultError, "Check the collection, run and job ids."))
    completed_raw = detail.get("completed_at")
    age = detail.get("age_hours")
    age_hours = float(age) if isinstance(age, (int, float)) else None
    extra = f" (completed_at {completed_raw}, {age_hours:.1f} h ago)" if age_hours is not None else ""
    server_msg = redact(str(detail.get("message") or code))
    return cls(
        f"{where}: {code or 'not found'}: {server_msg}{extra}. {hint}",
        error_code=code or None,
        completed_at=_parse_time(completed_raw),
        age_hours=age_hours,
        **{**kw, "detail": dict(detail)},
    )


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
