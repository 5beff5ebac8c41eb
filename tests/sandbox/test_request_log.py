"""Rate-limit and quota headers on authenticated responses
(docs/api-notes.md#rate-limits-quota-and-credits) and the request log (docs/sandbox.md#s5-request-log):
every /v1 call is logged under its route template with exact per-route and per-status counts; /_sandbox/
calls never are, and the token is always masked."""

from __future__ import annotations

import json

import httpx
import pytest
from scrapingpros import APIError, SyncClient

from airflow_provider_scrapingpros.sandbox.control import SandboxControl

from .helpers import (
    COLLECTIONS,
    R_COLLECTION,
    R_COLLECTIONS,
    R_CREATE_RUN,
    R_HEALTH,
    R_JOBS,
    R_PLANS,
    R_RESULT,
    R_RUN,
    R_RUNS,
    TOKEN,
    run_path,
    url,
)
from .invariants import assert_run_invariants


def test_rate_limit_headers_on_every_authenticated_response(sp: SandboxControl, api: httpx.Client) -> None:
    sp.freeze()  # the fixed 60 s window cannot roll over between these calls
    cid = api.post(COLLECTIONS, json={"name": "h", "requests": [{"url": url("h")}]}).json()["id"]
    rid = api.post(f"{COLLECTIONS}/{cid}/run").json()["run_id"]
    responses = [
        api.get(COLLECTIONS),
        api.get(f"{COLLECTIONS}/{cid}"),
        api.get(run_path(cid, rid)),
        api.get(f"{run_path(cid, rid)}/jobs"),
        api.get(f"{COLLECTIONS}/not-a-collection"),  # errors count and carry the headers too
    ]
    remaining = [int(r.headers["X-RateLimit-Remaining"]) for r in responses]
    assert remaining == list(range(2000 - 3, 2000 - 8, -1))  # two POSTs before, one per call
    for resp in responses:
        assert resp.headers["X-RateLimit-Limit"] == "2000"
        assert 0 <= int(resp.headers["X-RateLimit-Reset"]) <= 60
        assert resp.headers["X-Quota-Remaining"] == "unlimited"
    sp.resume()
    assert_run_invariants(sp.base_url, TOKEN, cid, rid)


def test_request_log_counts_per_route(sp: SandboxControl, client: SyncClient) -> None:
    col = client.create_collection("logged", [{"url": url("l")}], idempotency_key="log-key")
    assert col.id is not None
    run = client.run_and_wait(col.id, poll_interval=0.02, timeout=30)
    run_polls = sp.count(R_RUN)
    sp.script_fault(R_COLLECTION, "error_5xx", 1)  # the SDK retries a 5xx: two log entries
    client.get_collection(col.id)
    client.list_runs(col.id)
    client.get_run_jobs(col.id, run.run_id, limit=1000)
    client.get_job_result(col.id, run.run_id, run.job_ids[0])
    client.health()
    client.plans()
    with pytest.raises(APIError) as unknown:
        client.get_run(col.id, "no-such-run")
    assert unknown.value.status_code == 404
    sp.stats()  # control calls are never logged
    sp.faults()

    counts = sp.counts()
    assert counts["by_route"] == {
        R_COLLECTIONS: 1,
        R_CREATE_RUN: 1,
        R_RUN: run_polls + 1,
        R_COLLECTION: 2,
        R_RUNS: 1,
        R_JOBS: 1,
        R_RESULT: 1,
        R_HEALTH: 1,
        R_PLANS: 1,
    }
    assert counts["total"] == sum(counts["by_route"].values())
    fivexx = {k: v for k, v in counts["by_route_status"][R_COLLECTION].items() if k != "200"}
    assert counts["by_route_status"][R_COLLECTION]["200"] == 1
    assert sum(fivexx.values()) == 1 and all(k in {"500", "502", "503", "504"} for k in fivexx)
    assert counts["by_route_status"][R_RUN] == {"200": run_polls, "404": 1}
    assert counts["by_route_status"][R_COLLECTIONS] == {"201": 1}
    assert sp.count(R_COLLECTION, status=200) == 1
    assert sp.count() == counts["total"]

    log = sp.requests()
    assert [r["seq"] for r in log] == sorted(r["seq"] for r in log)
    assert len({r["seq"] for r in log}) == len(log) == counts["total"]
    assert not any(r["path"].startswith("/_sandbox") for r in log)
    assert TOKEN not in json.dumps(log)
    masked = {r["token"] for r in log if r["route"] not in (R_HEALTH, R_PLANS)}
    assert len(masked) == 1 and None not in masked
    posts = [r for r in log if r["route"] == R_COLLECTIONS]
    assert [(p["method"], p["path"], p["status"], p["idempotency_key"]) for p in posts] == [
        ("POST", COLLECTIONS, 201, "log-key")
    ]
    faulted = [r for r in log if r["fault"] is not None]
    assert [(r["route"], r["fault"]) for r in faulted] == [(R_COLLECTION, "error_5xx")]
    jobs = sp.requests(route=R_JOBS)
    assert [(r["query"], r["status"]) for r in jobs] == [("limit=1000", 200)]
    later = [r for r in sp.requests(since_seq=jobs[0]["seq"]) if r["seq"] != jobs[0]["seq"]]
    assert [r["route"] for r in later] == [R_RESULT, R_HEALTH, R_PLANS, R_RUN]

    stats = sp.stats()
    assert (stats["collections"], stats["collections_created"], stats["runs"], stats["jobs"]) == (1, 1, 1, 1)
    assert list(stats["by_token"].values()) == [{"collections": 1, "collections_created": 1, "runs": 1}]
    assert TOKEN not in json.dumps(stats)
    sp.clear_requests()
    assert sp.requests() == [] and sp.counts()["total"] == 0
    assert_run_invariants(sp.base_url, TOKEN, col.id, run.run_id)
