"""Every error the SDK types, raised by the sandbox the way the SDK expects (docs/api-notes.md#errors).

Typed /result 404s use a manual-clock sandbox: nothing moves until the test advances time, so
"pending" is observable for as long as needed and "expired" is 49 h away, not 49 h of waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone

import httpx
import pytest
from scrapingpros import (
    AuthenticationError,
    JobNotFound,
    JobResultError,
    JobResultExpired,
    JobResultLost,
    JobResultPending,
    QuotaExceededError,
    RateLimitError,
    SyncClient,
)

from airflow_provider_scrapingpros.sandbox import Sandbox
from airflow_provider_scrapingpros.sandbox.control import SandboxControl

from .helpers import COLLECTIONS, R_CREATE_RUN, R_RUN, R_SCRAPE, TOKEN, http, run_path, sdk_client, url
from .invariants import assert_run_invariants, parse_stamp

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def test_typed_result_404s(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(clock="manual")
    with sdk_client(sb.base_url) as client:
        col = client.create_collection(
            "typed-404",
            [
                {"url": url("ok")},
                {"url": url("gone", sp_lost=1)},
                {"url": url("err", sp_fail="Upstream reset")},
            ],
        )
        assert col.id is not None
        run = client.create_run(col.id)
        ok_id, lost_id, err_id = run.job_ids

        with pytest.raises(JobResultPending) as pending:
            client.get_job_result(col.id, run.run_id, ok_id)
        assert (pending.value.status_code, pending.value.error_code) == (404, "result_pending")

        sb.control.advance(120)  # well past the 0.2 s fetch and the 60 s worker timeout
        checked = assert_run_invariants(sb.base_url, TOKEN, col.id, run.run_id, wait_s=0)

        ok = client.get_job_result(col.id, run.run_id, ok_id)
        assert (ok.message, ok.statusCode, ok.guidance) == ("OK", 200, None)
        err = client.get_job_result(col.id, run.run_id, err_id)
        assert (err.message, err.statusCode, err.html, err.markdown) == ("Upstream reset", None, None, None)
        with pytest.raises(JobResultLost) as lost:
            client.get_job_result(col.id, run.run_id, lost_id)
        assert lost.value.error_code == "result_lost"
        other = client.create_run(col.id)  # a job of another run is not "in this run"
        for foreign in (UNKNOWN_ID, other.job_ids[0]):
            with pytest.raises(JobNotFound) as invalid:
                client.get_job_result(col.id, run.run_id, foreign)
            assert invalid.value.error_code == "job_id_invalid"
        with pytest.raises(JobResultError) as no_run:
            client.get_job_result(col.id, UNKNOWN_ID, ok_id)
        assert type(no_run.value) is JobResultError  # plain 404, not a typed one (docs/api-notes.md#results)
        assert "Run not found" in no_run.value.detail

        clock = sb.control.advance(49 * 3600)
        with pytest.raises(JobResultExpired) as expired:
            client.get_job_result(col.id, run.run_id, ok_id)
        completed_at = checked.job(ok_id)["completed_at"]
        assert (expired.value.error_code, expired.value.completed_at) == ("result_expired", completed_at)
        age = (clock["epoch"] - parse_stamp(completed_at).timestamp()) / 3600
        assert expired.value.age_hours == pytest.approx(age, abs=0.01)
        assert_run_invariants(sb.base_url, TOKEN, col.id, other.run_id, wait_s=0)
    with http(sb.base_url) as api:  # an expired body is no longer inline either
        page = api.get(f"{run_path(col.id, run.run_id)}/jobs", params={"include_results": "true"}).json()
        assert [j["result"] for j in page["items"]] == [None, None, None]


def test_429_with_retry_after_is_retried(sp: SandboxControl, client: SyncClient, api: httpx.Client) -> None:
    col = client.create_collection("rate-limited", [{"url": url("r")}])
    assert col.id is not None
    run = client.run_and_wait(col.id, poll_interval=0.02, timeout=30)
    sp.clear_requests()
    sp.script_fault(R_RUN, "rate_429", 1)

    started = time.monotonic()
    again = client.get_run(col.id, run.run_id)

    assert time.monotonic() - started >= 0.75  # Retry-After: 1, times the SDK's U(0.75, 1) jitter
    assert again.status == "completed"
    log = sp.requests(route=R_RUN)
    assert [(r["status"], r["fault"]) for r in log] == [(429, "rate_429"), (200, None)]

    sp.script_fault(R_RUN, "rate_429", 1)
    raw = api.get(run_path(col.id, run.run_id))
    assert (raw.status_code, raw.headers["Retry-After"]) == (429, "1")
    assert "quota" not in raw.text.lower() and "message" not in raw.json()
    assert_run_invariants(sp.base_url, TOKEN, col.id, run.run_id)


def test_plan_rate_limit_window(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(clock="manual")  # a fixed window cannot roll over mid-test
    sb.control.set_token(TOKEN, requests_per_minute=3)
    with http(sb.base_url) as api:
        seen = [api.get(COLLECTIONS) for _ in range(4)]
        assert [r.status_code for r in seen] == [200, 200, 200, 429]
        assert [r.headers["X-RateLimit-Limit"] for r in seen] == ["3"] * 4
        assert [r.headers["X-RateLimit-Remaining"] for r in seen] == ["2", "1", "0", "0"]
        refused = seen[3]
        assert refused.json() == {"detail": "Rate limit exceeded: 3 requests per minute"}
        retry_after = int(refused.headers["Retry-After"])
        assert 1 <= retry_after <= 60
        assert refused.headers["X-RateLimit-Reset"] == str(retry_after)
        # max_retries=0: the SDK would otherwise sleep out the whole window before giving up.
        with sdk_client(sb.base_url, max_retries=0) as client, pytest.raises(RateLimitError) as exc:
            client.list_collections()
        assert exc.value.retry_after == float(retry_after)
        sb.control.advance(60)
        assert api.get(COLLECTIONS).status_code == 200


def test_quota_exhaustion(sp: SandboxControl, client: SyncClient, api: httpx.Client) -> None:
    col = client.create_collection("quota", [{"url": url("q")}])  # creating costs nothing
    assert col.id is not None
    sp.set_token(TOKEN, credits_monthly=3, credits_used=3)
    sp.clear_requests()

    with pytest.raises(QuotaExceededError) as on_run:
        client.create_run(col.id)
    assert "Monthly credit quota exceeded (3/3)" in on_run.value.detail
    with pytest.raises(QuotaExceededError):
        client.scrape(url("q"))
    assert sp.count(R_CREATE_RUN) == sp.count(R_SCRAPE) == 1  # not retried

    sp.set_token(TOKEN, credits_monthly=3, credits_used=2)
    with pytest.raises(QuotaExceededError):
        client.scrape(url("heavy"), browser=True)  # remaining 1 < cost 5
    ok = client.scrape(url("cheap"))  # remaining 1 >= cost 1
    assert ok.guidance is not None and ok.guidance.credits_charged == 1
    assert (client.credits_charged, client.quota_remaining) == (1, 0)
    resp = api.post(f"{COLLECTIONS}/{col.id}/run")
    assert resp.status_code == 429
    assert resp.json() == {"detail": "Monthly credit quota exceeded (3/3)"}
    assert (resp.headers["X-Quota-Limit"], resp.headers["X-Quota-Used"]) == ("3", "3")
    assert resp.headers["X-Quota-Remaining"] == "0"
    assert sp.token(TOKEN)["credits_used"] == 3


def test_bad_token_is_401(sp: SandboxControl) -> None:
    with sdk_client(sp.base_url, token="sp_not_a_real_token") as bad:
        with pytest.raises(AuthenticationError) as exc:
            bad.list_collections()
        assert exc.value.status_code == 401
        assert bad.health() == {"status": "ok"}  # public route: the token is not checked
    with http(sp.base_url, token=None) as anonymous:
        missing = anonymous.get(COLLECTIONS)
    assert missing.status_code == 401
    assert list(missing.json()) == ["detail"]
    log = sp.requests()
    assert [r["status"] for r in log] == [401, 200, 401]
    assert all("sp_not_a_real_token" not in str(r["token"]) for r in log)
    assert log[2]["token"] is None


def test_sandbox_clock_shape(sp: SandboxControl) -> None:
    clock = sp.clock()
    parsed = datetime.fromisoformat(clock["iso"].replace("Z", "+00:00"))
    assert parsed.tzinfo is not None
    assert parsed.astimezone(timezone.utc).timestamp() == pytest.approx(clock["epoch"], abs=1.0)
    assert (clock["mode"], clock["frozen"]) == ("real", False)
