"""What only the engine can show, over HTTP on a manual clock: unique increasing stamps under a burst
that finishes in one millisecond (docs/api-notes.md#counters-and-invariants, I7), and queued jobs
starting exactly when a concurrency slot frees."""

from __future__ import annotations

from collections.abc import Callable

from airflow_provider_scrapingpros.sandbox import Sandbox

from .helpers import http


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
