"""Tokens and plans (docs/sandbox.md#s3-token-plans): a plan sets the limits the headers report, and
no answer or log ever shows a full token."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from airflow_provider_scrapingpros.sandbox import Sandbox
from airflow_provider_scrapingpros.sandbox.accounts import mask

from .helpers import TOKEN


def test_token_plans_and_the_request_log_never_show_a_full_token(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    sb = sandbox_factory(clock="manual")
    sb.control.set_token("tok_secret_123456", plan="growth", max_concurrent_jobs=1)
    assert sb.control.token("tok_secret_123456")["requests_per_minute"] == 60
    with httpx.Client(base_url=sb.base_url, headers={"Authorization": "Bearer tok_secret_123456"}) as api:
        answer = api.get("/v1/async/collections")
    assert answer.headers["X-RateLimit-Limit"] == "60"
    assert answer.headers["X-Quota-Limit"] == "100000"
    logged = sb.control.requests()[-1]
    assert logged["token"] == mask("tok_secret_123456") == "tok_…3456"
    assert "tok_secret_123456" not in str(sb.control.requests()) + str(sb.control.stats())
    assert TOKEN not in str(sb.control.stats())
