"""The Airflow-free rescrape policy (runs/rescrape.py): why a job failed, what qualifies, the ladder,
round plans and the best attempt."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_scrapingpros.client.models import Job, ScrapeRequest
from airflow_provider_scrapingpros.exceptions import ScrapingProsInputError
from airflow_provider_scrapingpros.runs.rescrape import (
    DEFAULT_REASONS,
    Attempt,
    attempt_of,
    best,
    check_ladder,
    check_reasons,
    failure_reason,
    index_requests,
    overrides_for,
    plan_round,
)


def job(n: int = 0, **fields: Any) -> Job:
    base: dict[str, Any] = {
        "job_public_id": f"j{n}",
        "run_public_id": "r",
        "collection_id": "c",
        "status": "completed",
        "url": f"https://example.com/{n}",
        "custom_id": f"c{n}",
        "is_success": False,
    }
    return Job.model_validate({**base, **fields})


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"is_success": True, "status_code": 200}, None),
        ({"status": "processing", "is_success": None}, None),
        ({"status": "timeout"}, "timeout"),
        ({"status": "failed"}, "worker_failure"),
        ({"status_code": 403, "block_reason": "cloudflare"}, "blocked"),
        ({"status_code": 200, "block_reason": "captcha"}, "blocked"),
        ({"status_code": 404, "block_reason": "none"}, "not_found"),
        ({"status_code": 410}, "not_found"),
        ({"status_code": 429}, "target_429"),
        ({"status_code": 503}, "target_5xx"),
        ({"status_code": 401}, "target_4xx"),
        ({"status_code": 200}, "unusable"),
    ],
)
def test_failure_reason(fields: dict[str, Any], reason: str | None) -> None:
    assert failure_reason(job(**fields)) == reason


def test_reasons_default_and_refusals_name_the_field() -> None:
    assert (
        check_reasons(None)
        == DEFAULT_REASONS
        == {
            "blocked",
            "timeout",
            "worker_failure",
            "target_5xx",
            "target_429",
        }
    )
    assert check_reasons("target_4xx") == {"target_4xx"}
    with pytest.raises(ScrapingProsInputError, match="404s are never rescraped") as caught:
        check_reasons(["blocked", "not_found"])
    assert caught.value.errors == [("reasons", "unknown or not rescrapable: ['not_found']")]
    with pytest.raises(ScrapingProsInputError, match="reasons is empty"):
        check_reasons([])


@pytest.mark.parametrize(
    ("ladder", "field", "message"),
    [
        ({"browser": True}, "ladder", "non-empty list"),
        ([], "ladder", "non-empty list"),
        ([{"retry_on_block": True}, "browser"], "ladder[1]", "must be a dict"),
        ([{"url": "https://other.example/"}], "ladder[0].url", "may not change"),
        ([{"custom_id": "x"}], "ladder[0].custom_id", "may not change"),
        ([{"browsr": True}], "ladder[0].browsr", "not request fields"),
        ([{"browser": True}, {"browser": "very"}], "ladder[1].browser", "ladder\\[1\\]: browser"),
    ],
)
def test_a_bad_ladder_names_the_rung_and_field(ladder: Any, field: str, message: str) -> None:
    with pytest.raises(ScrapingProsInputError, match=message) as caught:
        check_ladder(ladder)
    assert caught.value.errors[0][0] == field


def test_ladder_rungs_accumulate_and_the_last_one_holds() -> None:
    ladder = check_ladder([{"retry_on_block": True}, {"browser": True}])
    assert [overrides_for(ladder, n) for n in (1, 2, 3)] == [
        {"retry_on_block": True},
        {"retry_on_block": True, "browser": True},
        {"retry_on_block": True, "browser": True},
    ]


def test_a_round_plan_rebuilds_qualifying_requests_with_the_override() -> None:
    originals = index_requests(
        [
            ScrapeRequest(url="https://example.com/0", custom_id="c0", format="markdown"),
            ScrapeRequest(url="https://example.com/1", custom_id="c1"),
            ScrapeRequest(url="https://example.com/2", custom_id="c2"),
            ScrapeRequest(
                url="https://example.com/0", custom_id="c0", browser=True
            ),  # the API keeps the first
        ]
    )
    failed = [
        job(0, status_code=200, block_reason="captcha"),
        job(1, status_code=404),
        job(2, status="timeout"),
        job(2, status="timeout"),  # listed twice: one request
        job(7, status="failed"),  # not among the originals: reported, never guessed
        job(3, status="failed", url="https://example.com/3", url_truncated=True),
        job(4, is_success=True, status_code=200),
    ]
    plan = plan_round(originals, failed, DEFAULT_REASONS, {"browser": True})
    assert [(r.url, r.custom_id, r.browser, r.format) for r in plan.requests] == [
        ("https://example.com/0", "c0", True, "markdown"),
        ("https://example.com/2", "c2", True, "html"),
    ]
    assert plan.not_qualifying == {"not_found": 1}
    assert plan.unmatched == [("https://example.com/7", "c7"), ("https://example.com/3", "c3")]


def test_the_best_attempt_is_the_first_success_else_the_last_try() -> None:
    def tries(*outcomes: bool) -> list[Attempt]:
        return [
            attempt_of(job(n, is_success=ok, status_code=200 if ok else 503), n)
            for n, ok in enumerate(outcomes)
        ]

    assert best(tries(False, True, True)).round == 1
    assert best(tries(False, False, False)).round == 2
    assert best(tries(True)).round == 0
    assert tries(False)[0].reason == "target_5xx"
