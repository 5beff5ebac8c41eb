"""Fast unit tests of the sandbox's own pieces: clock, time formats, outcome hints and settlement,
URL safety, item screening, cursors, faults; plus two HTTP checks of what only the engine can show
(I7 stamps under a burst, manual-clock scheduling under a concurrency limit)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from airflow_provider_scrapingpros.sandbox import Sandbox
from airflow_provider_scrapingpros.sandbox.accounts import mask
from airflow_provider_scrapingpros.sandbox.clock import Clock
from airflow_provider_scrapingpros.sandbox.faults import FaultProfile, Faults, parse_profile
from airflow_provider_scrapingpros.sandbox.listing import QueryError, decode_cursor, parse_query
from airflow_provider_scrapingpros.sandbox.outcomes import (
    Outcome,
    Settlement,
    hints,
    outcome_for,
    parse_rules,
    settle,
)
from airflow_provider_scrapingpros.sandbox.results import body_size, page
from airflow_provider_scrapingpros.sandbox.timefmt import iso_ms, parse_iso_us
from airflow_provider_scrapingpros.sandbox.urls import check, normalise
from airflow_provider_scrapingpros.sandbox.validation import screen, validate_scrape

from .helpers import TOKEN, http

# ------------------------------------------------------------------------------------------ clock


def test_manual_clock_moves_only_forward_and_only_when_told() -> None:
    clock = Clock("manual")
    start = clock.now()
    time.sleep(0.02)
    assert clock.now() == start
    assert clock.frozen is True
    assert clock.advance(1.5) == start + 1.5
    clock.move_to(start)  # the past is ignored
    assert clock.now() == start + 1.5
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1)
    assert clock.snapshot()["mode"] == "manual"


def test_real_clock_freeze_pins_and_resume_continues_without_a_jump() -> None:
    clock = Clock("real")
    clock.advance(3600)
    assert abs(clock.now() - (time.time() + 3600)) < 0.5
    clock.freeze()
    pinned = clock.now()
    time.sleep(0.03)
    assert clock.now() == pinned
    clock.resume()
    assert pinned <= clock.now() < pinned + 0.02
    clock.reset()
    assert abs(clock.now() - time.time()) < 0.05


# ------------------------------------------------------------------------------------------ time formats


def test_iso_ms_is_utc_with_three_digits_and_z() -> None:
    assert iso_ms(1_777_629_600_123) == "2026-05-01T10:00:00.123Z"
    assert iso_ms(1_777_629_600_000) == "2026-05-01T10:00:00.000Z"


@pytest.mark.parametrize(
    "text",
    [
        "2026-05-01T10:00:00.123Z",
        "2026-05-01T10:00:00.123+00:00",
        "2026-05-01T12:00:00.123+02:00",
        "2026-05-01T12:00:00.123 02:00",  # an unencoded '+' arrives as a space
        "2026-05-01T10:00:00.123",  # naive = UTC
        "2026-05-01T10:00:00.123000",
        "2026-05-01T12:00:00.123+0200",
    ],
)
def test_parse_iso_accepts_the_contract_forms(text: str) -> None:
    assert parse_iso_us(text) == 1_777_629_600_123_000


@pytest.mark.parametrize("text", ["yesterday", "2026-02-30T00:00:00Z", "2026-05-01T10:00:00.1234567Z", ""])
def test_parse_iso_rejects_the_rest(text: str) -> None:
    assert parse_iso_us(text) is None


# ------------------------------------------------------------------------------------------ outcomes


def test_url_hints_are_read_from_the_query_and_win_over_rules() -> None:
    url = "https://example.com/a?x=1&sp_status=404&sp_latency_ms=900&sp_captcha=1&sp_bytes=nope"
    assert hints(url) == {"status": 404, "latency_ms": 900, "captcha": True}
    rules = parse_rules([{"match": "*example.com*", "outcome": {"status": 500, "extractable": True}}])
    assert outcome_for(url, rules) == Outcome(status=404, latency_ms=900, captcha=True, extractable=True)
    assert outcome_for("https://other.org/", rules) == Outcome()
    regex = parse_rules([{"match": "re:/shop/\\d+$", "outcome": {"blocked": True}}])
    assert outcome_for("https://a.com/shop/12", regex).blocked is True


def test_rules_reject_unknown_keys_and_wrong_types_by_name() -> None:
    with pytest.raises(ValueError, match=r"rules\[0\]\.outcome\.colour: unknown key"):
        parse_rules([{"match": "*", "outcome": {"colour": "red"}}])
    with pytest.raises(ValueError, match=r"rules\[0\]\.outcome\.status: must be of type int"):
        parse_rules([{"match": "*", "outcome": {"status": True}}])


def _settle(retry_on_block: bool = False, **declared: Any) -> Settlement:
    return settle(
        Outcome(**declared),
        retry_on_block=retry_on_block,
        default_latency_ms=200,
        time_scale=0.5,
        worker_timeout=60,
    )


def test_settlement_precedence_timeout_fail_lost_block_status() -> None:
    everything: dict[str, Any] = {
        "timeout": True,
        "fail": "boom",
        "lost": True,
        "block": "cloudflare",
        "status": 404,
    }
    assert _settle(**everything).status == "timeout"
    assert _settle(**{**everything, "timeout": False}).message == "boom"
    lost = _settle(**{**everything, "timeout": False, "fail": None})
    assert (lost.status, lost.lost, lost.status_code) == ("completed", True, 404)
    blocked = _settle(block="cloudflare")
    assert (blocked.status_code, blocked.message, blocked.block_reason, blocked.is_success) == (
        403,
        "blocked: cloudflare",
        "cloudflare",
        False,
    )
    assert _settle(status=404).message == "http_404"
    ok = _settle()
    assert (ok.status, ok.is_success, ok.duration, ok.message) == ("completed", True, 0.1, None)


def test_latency_over_the_worker_timeout_is_a_timeout_at_exactly_the_scaled_limit() -> None:
    slow = _settle(latency_ms=61_000)
    assert (slow.status, slow.duration, slow.message) == ("timeout", 30.0, "Worker timeout after 60s")


def test_retry_on_block_beats_a_few_blocked_attempts_but_not_a_captcha() -> None:
    assert _settle(block_attempts=2).captcha is True
    retried = _settle(retry_on_block=True, block_attempts=2)
    assert (retried.is_success, retried.retries) == (True, 2)
    assert retried.duration == pytest.approx(0.3)  # three attempts of 200 ms at time_scale 0.5
    captcha = _settle(retry_on_block=True, captcha=True)
    assert (captcha.is_success, captcha.retries, captcha.error_type) == (False, 3, "captcha")


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


# ------------------------------------------------------------------------------------------ URLs, items


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


def test_unknown_keys_are_dropped_at_any_depth_without_touching_the_input() -> None:
    item = {"url": "https://a.com", "zzz": 1, "use_proxy": {"proxy": "any", "qq": 2}}
    request, error = validate_scrape(item)
    assert error is None and request is not None
    assert request.use_proxy is not None
    assert item["zzz"] == 1 and item["use_proxy"] == {"proxy": "any", "qq": 2}


def test_screening_puts_each_rejected_item_in_exactly_one_bucket() -> None:
    items: list[Any] = [
        "https://a.com",
        {"url": "https://a.com", "actions": [{"type": "click"}]},
        {"url": "http://localhost/"},
        {"url": "a.com"},
        {"url": "https://a.com"},
        {"url": "https://a.com", "custom_id": "2"},
        {"url": "https://blocked.example/"},
    ]
    out = screen(items, lambda url: "blocked.example" in url)
    assert [r.url for r in out.accepted] == ["https://a.com", "https://a.com"]
    assert [
        (i["index"], i["errors"][0]["field"], i["errors"][0]["error_type"]) for i in out.invalid_items
    ] == [
        (0, "<root>", "not_a_dict"),
        (1, "actions.0.selector", "missing"),
    ]
    assert [(b["index"], b["reason"]) for b in out.blocked_urls] == [(2, "blocked_hostname"), (6, "blocked")]
    assert out.duplicate_urls == ["https://a.com"]


# ------------------------------------------------------------------------------------------ listing


def test_limits_are_clamped_and_cursors_are_bound_to_their_order() -> None:
    assert parse_query({"limit": "5000"}).limit == 1000
    assert parse_query({"limit": "500", "include_results": "true"}).limit == 100
    assert parse_query({}).limit == 100
    with pytest.raises(QueryError) as bad:
        parse_query({"limit": "0"})
    assert bad.value.param == "limit"
    with pytest.raises(QueryError, match="not one this API returned"):
        decode_cursor("!!not-base64!!", by_completion=False)


def test_cursor_round_trip_through_a_real_page(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(clock="manual")
    with http(sb.base_url) as api:
        cid = api.post("/v1/async/collections", json={"name": "c", "requests": [
            {"url": f"https://example.com/{i}"} for i in range(5)
        ]}).json()["id"]  # fmt: skip
        rid = api.post(f"/v1/async/collections/{cid}/run").json()["run_id"]
        sb.control.advance(1)
        jobs = f"/v1/async/collections/{cid}/runs/{rid}/jobs"
        first = api.get(jobs, params={"limit": 2, "order_by": "completed_at"}).json()
        assert first["has_more"] is True
        cursor = first["cursor_next"]
        assert decode_cursor(cursor, by_completion=True)[1] == 1
        wrong = api.get(jobs, params={"limit": 2, "cursor": cursor})  # same cursor, other order
        assert wrong.status_code == 422
        assert wrong.json()["detail"][0]["loc"] == ["query", "cursor"]


# ------------------------------------------------------------------------------------------ engine over HTTP


def test_a_burst_finishing_in_one_millisecond_gets_unique_increasing_stamps(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    sb = sandbox_factory(clock="manual")
    with http(sb.base_url) as api:
        requests = [{"url": f"https://example.com/{i}"} for i in range(150)]
        cid = api.post("/v1/async/collections", json={"name": "burst", "requests": requests}).json()["id"]
        rid = api.post(f"/v1/async/collections/{cid}/run").json()["run_id"]
        run_path = f"/v1/async/collections/{cid}/runs/{rid}"
        sb.control.advance(0.2)  # exactly the first wave of 100 (Enterprise concurrency) is due
        run = api.get(run_path).json()
        assert (run["status"], run["success_requests"]) == ("in_progress", 100)
        sb.control.advance(0.2)
        page = api.get(run_path + "/jobs", params={"limit": 1000, "order_by": "completed_at"}).json()
        stamps = [job["completed_at"] for job in page["items"]]
        assert len(stamps) == 150
        assert stamps == sorted(stamps) and len(set(stamps)) == 150
        starts = sorted({job["started_at"] for job in page["items"]})
        assert len(starts) == 2  # second wave started when the first freed its slots


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


# ------------------------------------------------------------------------------------------ faults


def test_same_seed_same_faults_and_scripted_faults_come_first() -> None:
    profile = parse_profile({"seed": 7, "rules": [{"match": "GET *", "error_5xx": 0.5, "rate_429": 0.2}]})
    first, second = Faults(profile), Faults(profile)
    route = "GET /v1/async/collections/{cid}"
    draws = [first.decide(route) for _ in range(50)]
    assert draws == [second.decide(route) for _ in range(50)]
    assert {d.fault for d in draws} == {None, "error_5xx", "rate_429"}
    first.script("POST *", "lost_after_commit", 1)
    assert first.decide("POST /v1/async/collections/{cid}/run").fault == "lost_after_commit"
    assert Faults(FaultProfile()).decide(route).fault is None


def test_lost_after_commit_never_hits_a_route_that_commits_nothing() -> None:
    faults = Faults(FaultProfile())
    faults.script("*", "lost_after_commit", 1)
    assert faults.decide("GET /v1/health").fault is None
    assert faults.decide("POST /v1/async/collections").fault == "lost_after_commit"
    with pytest.raises(ValueError, match="fault probabilities add up to more than 1"):
        parse_profile({"rules": [{"match": "*", "drop": 0.7, "error_5xx": 0.7}]})
