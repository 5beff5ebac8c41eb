"""Sandbox throughput: how fast a client can drain a finished run's results.

Starts an in-process sandbox, lifts the dev token's rate limit (the benchmark measures the server,
not the plan), submits N URLs of 5,000-byte bodies, waits for the run to end, then times one client
paging every job with inline results (`include_results=true&limit=100&order_by=completed_at`) over a
single keep-alive connection, the way `Batch.iter_results` drains a run. Parsing each page is part
of the measured work: a result is only "delivered" once the client holds it as data.

    python -m bench.sandbox [--jobs N]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import httpx

from airflow_provider_scrapingpros.sandbox import Sandbox, SandboxConfig

TOKEN = "sp_sandbox_dev"
BODY_BYTES = 5000
PAGE = {"include_results": "true", "limit": 100, "order_by": "completed_at"}


def run(jobs: int = 3000, on_complete: Callable[[str, str, str], None] | None = None) -> dict[str, float]:
    """Submit `jobs` URLs, wait for the run, time the drain; returns counts and timings.

    `on_complete(base_url, collection_id, run_id)` runs after the drain, before the sandbox stops
    (the smoke test checks the run's invariants there).
    """
    with Sandbox(SandboxConfig(port=0, time_scale=0.01)) as sb:
        sb.control.set_token(TOKEN, rate_limit_enabled=False)
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        with httpx.Client(base_url=sb.base_url, headers=headers, timeout=120.0) as api:
            requests = [{"url": f"https://example.com/item/{i}?sp_bytes={BODY_BYTES}"} for i in range(jobs)]
            started = time.perf_counter()
            cid = _json(api.post("/v1/async/collections", json={"name": "bench", "requests": requests}))["id"]
            rid = _json(api.post(f"/v1/async/collections/{cid}/run"))["run_id"]
            run_path = f"/v1/async/collections/{cid}/runs/{rid}"
            while _json(api.get(run_path))["status"] == "in_progress":
                time.sleep(0.01)
            completion_s = time.perf_counter() - started

            drain_started = time.perf_counter()
            results = pages = body_bytes = 0
            cursor: str | None = None
            while True:
                params: dict[str, Any] = dict(PAGE, **({"cursor": cursor} if cursor else {}))
                page = _json(api.get(f"{run_path}/jobs", params=params))
                pages += 1
                for job in page["items"]:
                    if job.get("result") is not None:
                        results += 1
                        body_bytes += len(job["result"]["html"] or "")
                if not page["has_more"]:
                    break
                cursor = page["cursor_next"]
            drain_s = time.perf_counter() - drain_started
        if on_complete is not None:
            on_complete(sb.base_url, cid, rid)
    return {
        "jobs": float(jobs),
        "results": float(results),
        "pages": float(pages),
        "body_bytes": float(body_bytes),
        "completion_s": completion_s,
        "drain_s": drain_s,
        "results_per_s": results / drain_s if drain_s > 0 else 0.0,
    }


def _json(resp: httpx.Response) -> dict[str, Any]:
    if resp.status_code >= 400:
        raise RuntimeError(
            f"{resp.request.method} {resp.request.url.path} -> {resp.status_code}: {resp.text}"
        )
    body: dict[str, Any] = resp.json()
    return body


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=3000, help="URLs in the run (default 3000)")
    args = parser.parse_args(argv)
    metrics = run(args.jobs)
    width = max(len(k) for k in metrics)
    for key, value in metrics.items():
        print(
            f"{key:<{width}}  {value:,.3f}"
            if key.endswith("_s") and not key.endswith("_per_s")
            else f"{key:<{width}}  {value:,.0f}"
        )
    target = "meets" if metrics["results_per_s"] >= 3000 else "below"
    print(f"-> {metrics['results_per_s']:,.0f} results/s ({target} the 3,000/s target)")


if __name__ == "__main__":
    main()
