"""The price list, the estimate replayed from a collection's accepted requests, the charge after a
run, and the quota headers (client/cost.py): plain values, no HTTP."""

from __future__ import annotations

import pytest

from airflow_provider_scrapingpros.client.cost import CostEstimate, Quota, credit_cost, estimate_accepted
from airflow_provider_scrapingpros.client.models import NewCollectionResponse, ScrapeRequest


def req(url: str, *, browser: bool = False, custom_id: str | None = None) -> ScrapeRequest:
    return ScrapeRequest(url=url, browser=browser, custom_id=custom_id)


def response(**fields: object) -> NewCollectionResponse:
    return NewCollectionResponse.model_validate({"id": "c1", "name": "n", "message": "ok", **fields})


def test_a_browser_render_costs_five_plain_fetches() -> None:
    assert (credit_cost(req("https://a.example")), credit_cost(req("https://a.example", browser=True))) == (
        1,
        5,
    )


def test_the_estimate_leaves_out_what_the_api_rejected_and_the_duplicates_it_skipped() -> None:
    submitted = [
        req("https://a.example/1", browser=True),  # 0 accepted
        req("https://a.example/2"),  # 1 blocked
        req("https://a.example/3", browser=True),  # 2 invalid
        req("https://a.example/1", browser=True),  # 3 duplicate of 0
        req("https://a.example/1", browser=True, custom_id="x"),  # 4 same URL, other custom_id: kept
        req("https://a.example/4"),  # 5 accepted
    ]
    answer = response(
        blocked_urls=[{"index": 1, "url": "https://a.example/2", "reason": "blocked"}],
        invalid_items=[{"index": 2, "url": "https://a.example/3", "errors": []}],
        duplicates_skipped=1,
        duplicate_urls=["https://a.example/1"],
    )
    assert estimate_accepted("c1", submitted, answer) == CostEstimate(
        collection_id="c1", requests=3, browser_requests=2, estimated_credits=11, source="submitted"
    )


def test_an_answer_the_replay_cannot_match_is_estimated_on_the_safe_side() -> None:
    # The API says it skipped 2 duplicates that the replay does not see: keep every item not rejected
    # by index, which can only overestimate.
    submitted = [req("https://a.example/1", browser=True), req("https://a.example/2")]
    estimate = estimate_accepted("c1", submitted, response(duplicates_skipped=1))
    assert (estimate.requests, estimate.estimated_credits) == (2, 6)


@pytest.mark.parametrize(
    ("requests", "browser", "successes", "used", "bounds"),
    [
        (10, 0, 7, 7, (7, 7)),  # all plain: exact
        (10, 10, 7, 35, (35, 35)),  # all browser: exact
        (10, 3, 8, None, (12, 20)),  # 7 plain: at least 1 of 8 successes was a browser page, at most 3
        (10, 3, 10, 22, (22, 22)),  # everything succeeded: exact again
        (10, 3, 0, 0, (0, 0)),
    ],
)
def test_the_charge_is_exact_for_one_price_and_a_range_for_a_mix(
    requests: int, browser: int, successes: int, used: int | None, bounds: tuple[int, int]
) -> None:
    report = CostEstimate.of_mix("c1", requests, browser, "submitted").report(successes)
    assert (report.credits_used, report.credits_used_range) == (used, bounds)


def test_a_run_sized_estimate_bounds_the_charge_between_one_and_five_credits_a_success() -> None:
    estimate = CostEstimate.unknown_mix("c1", 10)
    assert estimate.estimated_credits == 50
    report = estimate.report(4)
    assert (report.credits_used, report.credits_used_range, report.estimate_source) == (
        None,
        (4, 20),
        "run_size",
    )
    assert estimate.report(None).credits_used_range is None  # the run has not ended: nothing charged yet


@pytest.mark.parametrize(
    ("headers", "quota"),
    [
        (
            {"x-quota-limit": "100", "x-quota-used": "70", "x-quota-remaining": "30"},
            Quota(limit=100, used=70, remaining=30),
        ),
        (
            {"x-quota-limit": "unlimited", "x-quota-used": "12", "x-quota-remaining": "unlimited"},
            Quota(limit=None, used=12, remaining=None),
        ),
        ({"x-quota-remaining": "lots"}, None),  # unreadable is not "unlimited"
        ({}, None),
    ],
)
def test_quota_headers(headers: dict[str, str], quota: Quota | None) -> None:
    assert Quota.from_headers(headers) == quota
