"""The one request-spec validator (client/specs.py): every problem at once, named by request index
and field path, and URLs that cannot be scraped refused before anything is sent."""

from __future__ import annotations

import pytest

from airflow_provider_scrapingpros.client.specs import normalize_url, validate_request, validate_requests
from airflow_provider_scrapingpros.exceptions import ScrapingProsInputError

NOT_SCRAPABLE = "must be an http(s) URL with a host"


@pytest.mark.parametrize(
    "url",
    ["", "   ", "https://", "http:///path", "javascript:alert(1)", "file:///etc/passwd", "ftp://x.org/a"],
)
def test_urls_that_cannot_work_are_refused(url: str) -> None:
    with pytest.raises(ScrapingProsInputError) as err:
        validate_requests(["https://ok.example", {"url": url}])
    assert err.value.errors == [("requests[1].url", f"{NOT_SCRAPABLE}, got {url!r}")]


def test_scheme_less_urls_get_https_like_the_api_does() -> None:
    assert normalize_url(" www.example.com/a ") == "https://www.example.com/a"
    assert [r.url for r in validate_requests(["example.com", {"url": "http://x.org"}])] == [
        "https://example.com",
        "http://x.org",
    ]


def test_one_request_names_its_fields_without_an_index() -> None:
    with pytest.raises(ScrapingProsInputError) as err:
        validate_request({"url": "mailto:a@b.c", "format": "pdf"})
    assert err.value.errors == [
        ("request.url", f"{NOT_SCRAPABLE}, got 'mailto:a@b.c'"),
        ("request.format", "Input should be 'html' or 'markdown'"),
    ]
