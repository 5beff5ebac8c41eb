"""GET …/runs/{rid}/jobs parameters (docs/api-notes.md#jobs-paging-and-inline-results): limit bounds and
clamps, the inline-results cap, cursor and filter validation, and `since_completed_at` as a strict lower
bound in every accepted timestamp spelling."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timezone
from typing import Any

import httpx
import pytest

from airflow_provider_scrapingpros.sandbox import Sandbox
from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from airflow_provider_scrapingpros.sandbox.listing import QueryError, decode_cursor, parse_query

from .helpers import R_RESULT, TOKEN, BatchItems, http, list_jobs, run_path, sdk_client, submit, url
from .invariants import assert_run_invariants, parse_stamp


def jobs_url(cid: str, rid: str) -> str:
    return f"{run_path(cid, rid)}/jobs"


def finished_run(
    sp: SandboxControl, api: httpx.Client, requests: list[Any], page_size: int = 7
) -> tuple[str, str]:
    cid, rid = submit(api, requests)
    assert_run_invariants(sp.base_url, TOKEN, cid, rid, page_size=page_size)
    return cid, rid


def test_limit_bounds_and_clamps(sp: SandboxControl, api: httpx.Client) -> None:
    # 1,005 jobs: the only way to see a limit of 5,000 clamped to 1,000.
    cid, rid = finished_run(sp, api, [{"url": url(f"n/{i}")} for i in range(1005)], page_size=97)
    path = jobs_url(cid, rid)
    for bad in ("0", "-1", "ten"):
        assert api.get(path, params={"limit": bad}).status_code == 422
    clamped = api.get(path, params={"limit": 5000}).json()
    assert (len(clamped["items"]), clamped["has_more"]) == (1000, True)
    rest = api.get(path, params={"limit": 5000, "cursor": clamped["cursor_next"]}).json()
    assert (len(rest["items"]), rest["has_more"], rest["cursor_next"]) == (5, False, None)
    assert len(api.get(path).json()["items"]) == 100  # absent → 100
    inline = api.get(path, params={"limit": 1000, "include_results": "true"}).json()
    assert (len(inline["items"]), inline["has_more"]) == (100, True)
    assert all(j["result"]["message"] == "OK" and j["result"]["html"] for j in inline["items"])
    assert all("guidance" not in j["result"] or j["result"]["guidance"] is None for j in inline["items"])
    plain = api.get(path, params={"limit": 3}).json()
    assert [j.get("result") for j in plain["items"]] == [None, None, None]


def test_filters_and_cursor_validation(sp: SandboxControl, api: httpx.Client) -> None:
    requests = [
        {"url": url("ok")},
        {"url": url("nf", sp_status=404)},
        {"url": url("f", sp_fail="boom")},
        {"url": url("t", sp_timeout=1)},
        {"url": url("ok2")},
    ]
    cid, rid = finished_run(sp, api, requests)
    path = jobs_url(cid, rid)
    for params in ({"cursor": "not-a-cursor!!"}, {"status_filter": "done"}, {"status_filter": "failed,nope"}):
        resp = api.get(path, params=params)
        assert resp.status_code == 422, params
        assert list(resp.json()) == ["detail"]

    def urls(**params: Any) -> list[str]:
        return [j["url"] for j in list_jobs(api, cid, rid, limit=2, **params)]

    assert urls(status_filter="failed,timeout") == [url("f", sp_fail="boom"), url("t", sp_timeout=1)]
    assert urls(status_filter="completed") == [url("ok"), url("nf", sp_status=404), url("ok2")]
    assert urls(status_filter="processing") == []
    assert urls(order_by="id", order_dir="desc") == [r["url"] for r in reversed(requests)]


def test_since_completed_at_is_strict(sp: SandboxControl, api: httpx.Client) -> None:
    cid, rid = finished_run(sp, api, [{"url": url(f"s/{i}")} for i in range(6)])
    ordered = list_jobs(api, cid, rid, order_by="completed_at")
    ids = [j["job_public_id"] for j in ordered]
    pivot = parse_stamp(ordered[2]["completed_at"])
    spellings = [
        ordered[2]["completed_at"],  # as served: ...123Z
        pivot.isoformat(timespec="milliseconds"),  # as the SDK sends it: ...123+00:00
        pivot.replace(tzinfo=None).isoformat(timespec="microseconds"),  # naive = UTC, 6 digits
        pivot.astimezone(timezone.utc).isoformat().replace("+00:00", " 00:00"),  # unencoded '+' read as ' '
    ]
    for since in spellings:
        after = list_jobs(api, cid, rid, order_by="completed_at", since_completed_at=since, limit=2)
        assert [j["job_public_id"] for j in after] == ids[3:], since
    assert api.get(jobs_url(cid, rid), params={"since_completed_at": "soon"}).status_code == 422


def test_inline_result_cap_boundary(sp: SandboxControl, api: httpx.Client) -> None:
    """A body of exactly 262,144 bytes is inline, one byte more is not."""
    cid, rid = finished_run(sp, api, [{"url": url("cap", sp_bytes=n)} for n in (262_144, 262_145)])
    page = api.get(jobs_url(cid, rid), params={"include_results": "true"}).json()
    inline = [j["result"] for j in page["items"]]
    assert inline[1] is None
    assert inline[0] is not None and len(inline[0]["html"].encode()) == 262_144


def test_configured_inline_cap_sends_the_sdk_to_result(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(time_scale=0.01, inline_result_cap_bytes=1000)
    items: BatchItems = [
        {"url": url(f"c/{n}", sp_bytes=n), "custom_id": str(n)} for n in (999, 1000, 1001, 5000)
    ]
    with sdk_client(sb.base_url) as client:
        batch = client.submit_batch("small-cap", items)
        sizes = {
            r.custom_id: len((r.html or "").encode())
            for r in batch.iter_results(poll_interval=0.02, timeout=30)
        }
    assert sizes == {"999": 999, "1000": 1000, "1001": 1001, "5000": 5000}
    checked = assert_run_invariants(sb.base_url, TOKEN, batch.collection_id, batch.run_id)
    over_cap = sorted(j["job_public_id"] for j in checked.jobs if j["custom_id"] in ("1001", "5000"))
    fetched = sb.control.requests(route=R_RESULT)
    assert sorted(r["path"].rsplit("/", 2)[-2] for r in fetched) == over_cap


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
