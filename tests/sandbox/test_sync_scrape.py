"""Sync scrape through the SDK's `scrape()` (docs/api-notes.md#request-fields-and-sync-scrape): always 200
with guidance when the target fails, 4xx only for request-level problems, `X-Credits-Charged` 1 / 5 / 0
(refunded)."""

from __future__ import annotations

import httpx
import pytest
from scrapingpros import CountryProxyNotApproved, SyncClient, URLBlockedError, ValidationError

from airflow_provider_scrapingpros.sandbox.control import SandboxControl

from .helpers import TOKEN, url


def test_scrape_success_charges_one_or_five(sp: SandboxControl, client: SyncClient) -> None:
    page = client.scrape(url("hello"))
    assert (page.message, page.statusCode) == ("OK", 200)
    assert page.html and page.markdown is None
    assert page.guidance is not None
    assert (page.guidance.success, page.guidance.error_type, page.guidance.credits_charged) == (True, None, 1)
    assert client.credits_charged == 1

    rendered = client.scrape(url("hello"), browser=True, format="markdown")
    assert rendered.markdown and rendered.html is None
    assert rendered.guidance is not None and rendered.guidance.credits_charged == 5
    assert client.credits_charged == 5
    assert sp.token(TOKEN)["credits_used"] == 6


@pytest.mark.parametrize(
    ("hints", "status_code", "error_type"),
    [
        ({"sp_status": 404}, 404, "http_404"),
        ({"sp_captcha": 1}, 200, "captcha"),
        ({"sp_fail": "Connection reset"}, None, "worker_error"),
        ({"sp_timeout": 1}, None, "worker_timeout"),
    ],
)
def test_scrape_target_failure_is_200_with_refund(
    sp: SandboxControl, client: SyncClient, hints: dict[str, object], status_code: int | None, error_type: str
) -> None:
    result = client.scrape(url("target", **hints))
    assert result.statusCode == status_code
    assert result.guidance is not None
    assert (result.guidance.success, result.guidance.error_type) == (False, error_type)
    assert (result.guidance.credits_charged, result.guidance.credits_refunded) == (0, True)
    assert client.credits_charged == 0
    assert sp.token(TOKEN)["credits_used"] == 0


def test_scrape_request_level_errors(sp: SandboxControl, client: SyncClient, api: httpx.Client) -> None:
    with pytest.raises(URLBlockedError) as blocked:
        client.scrape("http://10.0.0.1/admin")
    assert blocked.value.status_code == 422
    with pytest.raises(ValidationError):
        client.scrape(url("shot"), screenshot=True)  # screenshot needs browser
    raw = api.post("/v1/sync/scrape", json={"url": "http://localhost/"})
    assert raw.status_code == 422
    assert "URL blocked" in raw.json()["detail"]
    assert "message" not in raw.json()
    assert sp.token(TOKEN)["credits_used"] == 0


def test_unapproved_country_is_403(sp: SandboxControl, client: SyncClient) -> None:
    with pytest.raises(CountryProxyNotApproved) as refused:
        client.scrape(url("geo"), use_proxy="BR")
    assert refused.value.status_code == 403
    sp.set_token(TOKEN, approved_countries=["BR"])
    assert client.scrape(url("geo"), use_proxy="BR").statusCode == 200
