"""Simulated bodies (docs/api-notes.md#results): exactly the declared size, and the same bytes on
every read."""

from __future__ import annotations

from airflow_provider_scrapingpros.sandbox.outcomes import (
    outcome_for,
)
from airflow_provider_scrapingpros.sandbox.results import body_size, page


def test_page_bodies_have_exactly_the_declared_size_and_are_deterministic() -> None:
    url = "https://example.com/é?sp_bytes=5000"
    outcome = outcome_for(url, [])
    assert body_size(url, outcome) == 5000
    body = page(url, "html", 5000, "ok")
    assert len(body.encode()) == 5000
    assert body == page(url, "html", 5000, "ok")
    plain = "https://example.com/x"
    size = body_size(plain, outcome_for(plain, []))
    assert 1024 <= size < 1536
    assert len(page(plain, "markdown", size, "ok")) == size
