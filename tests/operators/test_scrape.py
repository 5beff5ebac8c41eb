"""ScrapingProsScrapeOperator called directly: one synchronous scrape, the verdict in XCom and the page
only in storage."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_scrapingpros.exceptions import ScrapingProsInputError, ScrapingProsRunFailedError
from airflow_provider_scrapingpros.operators.scrape import ScrapingProsScrapeOperator
from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from tests.task_context import context_for

SCRAPE = "POST /v1/sync/scrape"


def test_the_verdict_goes_to_xcom_and_the_body_to_storage(conn: SandboxControl, tmp_path: Path) -> None:
    target = tmp_path / "page.html"
    summary = ScrapingProsScrapeOperator(
        task_id="s", request="example.com/p", destination=f"file://{target}"
    ).execute(context_for())
    assert summary == {
        "url": "https://example.com/p",
        "status_code": 200,
        "success": True,
        "error_type": None,
        "credits_charged": summary["credits_charged"],
        "extracted_data": None,
        "object_uri": f"file://{target}",
    }
    assert target.read_bytes().startswith(b"<")
    assert conn.count(SCRAPE) == 1


def test_an_unusable_page_fails_the_task_with_next_steps(conn: SandboxControl) -> None:
    task = ScrapingProsScrapeOperator(task_id="s", request="https://example.com/gone?sp_status=404")
    with pytest.raises(ScrapingProsRunFailedError, match="did not return usable content"):
        task.execute(context_for())
    kept = ScrapingProsScrapeOperator(
        task_id="s", request="https://example.com/gone?sp_status=404", fail_on_unsuccessful=False
    ).execute(context_for())
    assert (kept["status_code"], kept["success"]) == (404, False)


def test_a_bad_request_names_its_field_before_any_call(conn: SandboxControl) -> None:
    task = ScrapingProsScrapeOperator(task_id="s", request={"url": "https://a.example", "format": "pdf"})
    with pytest.raises(ScrapingProsInputError) as err:
        task.execute(context_for())
    assert err.value.errors == [("request.format", "Input should be 'html' or 'markdown'")]
    assert conn.count() == 0
