"""From an HTTP error answer to its typed exception (client/errors.py), without sockets."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_scrapingpros.client.errors import error_for_response
from airflow_provider_scrapingpros.exceptions import (
    JobNotFoundError,
    ResultExpiredError,
    ResultLostError,
    ResultPendingError,
    ScrapingProsAuthError,
    ScrapingProsNotFoundError,
    ScrapingProsProxyNotApprovedError,
    ScrapingProsQuotaError,
    ScrapingProsRateLimitError,
    ScrapingProsServerError,
    ScrapingProsURLBlockedError,
    ScrapingProsValidationError,
)

TOKEN = "sp_unit_secret_token"


def _error(status: int, body: bytes, retry_after: float | None = None) -> Exception:
    return error_for_response(
        status,
        body,
        method="GET",
        path="/v1/x",
        retry_after=retry_after,
        redact=lambda t: t.replace(TOKEN, "***"),
        auth_hint="the password (API token) of Airflow connection 'sp'",
    )


def test_errors_map_to_types_with_next_steps() -> None:
    auth = _error(401, b'{"detail":"Invalid token"}')
    assert isinstance(auth, ScrapingProsAuthError)
    assert str(auth) == (
        "ScrapingPros rejected the API token on GET /v1/x (401: Invalid token). Check the password (API "
        "token) of Airflow connection 'sp': it must be a valid, active ScrapingPros token."
    )
    assert isinstance(_error(403, b'{"detail":"Country DE not approved"}'), ScrapingProsProxyNotApprovedError)
    assert isinstance(_error(404, b'{"detail":"Collection not found"}'), ScrapingProsNotFoundError)
    assert isinstance(_error(500, b"oops"), ScrapingProsServerError)
    quota = _error(429, b'{"detail":"Monthly credit quota exceeded (5/5)"}')
    assert isinstance(quota, ScrapingProsQuotaError)
    assert "Wait for the monthly reset or upgrade the plan" in str(quota)
    rate = _error(429, b'{"detail":"Rate limit exceeded: 30 requests per minute"}', retry_after=42)
    assert isinstance(rate, ScrapingProsRateLimitError)
    assert rate.retry_after == 42
    assert "the server asked to wait 42 s" in str(rate)


def test_validation_error_names_field_paths() -> None:
    body = (
        b'{"detail":[{"loc":["body","requests",2,"actions",0,"click","selector"],'
        b'"msg":"Field required","type":"missing"}]}'
    )
    err = _error(422, body)
    assert isinstance(err, ScrapingProsValidationError)
    assert err.errors == [("requests[2].actions.0.selector", "Field required")]
    assert str(err) == (
        "GET /v1/x: request rejected (422): requests[2].actions.0.selector: Field required. "
        "Fix the named field(s) and try again."
    )
    blocked = _error(422, b'{"detail":"URL blocked: private_ip"}')
    assert isinstance(blocked, ScrapingProsURLBlockedError)


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("result_pending", ResultPendingError),
        ("result_expired", ResultExpiredError),
        ("result_lost", ResultLostError),
        ("job_id_invalid", JobNotFoundError),
    ],
)
def test_typed_result_404s(code: str, cls: type[Exception]) -> None:
    body = (
        b'{"detail":{"error_code":"' + code.encode() + b'","message":"m",'
        b'"completed_at":"2026-05-01T10:00:00.000Z","age_hours":49.5}}'
    )
    err = _error(404, body)
    assert type(err) is cls
    assert isinstance(err, ScrapingProsNotFoundError)
    assert (err.error_code, err.age_hours) == (code, 49.5)  # type: ignore[attr-defined]
    assert err.completed_at == datetime(2026, 5, 1, 10, tzinfo=timezone.utc)  # type: ignore[attr-defined]


def test_server_text_is_redacted() -> None:
    err = _error(401, b'{"detail":"token ' + TOKEN.encode() + b' revoked"}')
    assert TOKEN not in str(err)
    assert "token *** revoked" in str(err)
