"""The per-token rate window (docs/api-notes.md#rate-limits-quota-and-credits) beyond what the SDK
tests show: a refused request does not count, and `rate_limit_enabled: false` counts every request
in the headers but never refuses one (what benchmarks rely on)."""

from __future__ import annotations

from collections.abc import Callable

from airflow_provider_scrapingpros.sandbox import Sandbox

from .helpers import COLLECTIONS, TOKEN, http


def test_a_refused_request_does_not_count_in_the_window(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(clock="manual")  # a fixed window cannot roll over mid-test
    sb.control.set_token(TOKEN, requests_per_minute=2)
    with http(sb.base_url) as api:
        assert [api.get(COLLECTIONS).status_code for _ in range(4)] == [200, 200, 429, 429]
        sb.control.set_token(TOKEN, requests_per_minute=3)
        third = api.get(COLLECTIONS)
    assert (third.status_code, third.headers["X-RateLimit-Remaining"]) == (200, "0")


def test_a_disabled_limit_still_counts_but_never_refuses(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(clock="manual")
    sb.control.set_token(TOKEN, requests_per_minute=2, rate_limit_enabled=False)
    with http(sb.base_url) as api:
        answers = [api.get(COLLECTIONS) for _ in range(4)]
    assert [a.status_code for a in answers] == [200] * 4
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["1", "0", "0", "0"]
    assert all("Retry-After" not in a.headers for a in answers)
