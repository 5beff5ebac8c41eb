"""Target URL checks (docs/api-notes.md#collections-and-idempotency, steps 3-4): every refusal
reason, decided from the text of the URL alone."""

from __future__ import annotations

import pytest

from airflow_provider_scrapingpros.sandbox.urls import check, normalise


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/", "invalid_protocol"),
        ("https://", "malformed_url"),
        ("https://example.com:70000/", "invalid_port"),
        ("http://10.1.2.3/", "private_ip"),
        ("http://[::1]/", "private_ip"),
        ("http://100.64.0.1/", "private_ip"),
        ("http://2130706433/", "private_ip"),
        ("https://localhost:8080/", "blocked_hostname"),
        ("https://printer.local/", "blocked_hostname"),
        ("http://metadata.google.internal/", "blocked_hostname"),
        ("https://nowhere.invalid/", "dns_failed"),
        ("https://example.com/ok", None),
    ],
)
def test_url_safety_reasons(url: str, reason: str | None) -> None:
    refusal = check(normalise(url))
    assert (refusal.reason if refusal else None) == reason


def test_normalise_trims_and_prefixes_https_but_keeps_other_schemes() -> None:
    assert normalise("  www.example.com/a ") == "https://www.example.com/a"
    assert normalise("mailto:a@b.c") == "mailto:a@b.c"
