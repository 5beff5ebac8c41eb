"""Invariants at *every* observation of a run in progress (docs/api-notes.md#counters-and-invariants), not
only at the end.

Two readers race a run of varied latencies: the official SDK's `iter_results` with a tiny poll
interval (it relies on I2, I7 and I8 to neither miss nor repeat a job), and a plain-HTTP observer that
brackets each full listing between two run reads. Terminal jobs never revert, so the terminal count
seen in a listing must lie between the two counter sums (I2 with I8), and each run snapshot must
satisfy I1/I4 with counters that never decrease (I6).
"""

from __future__ import annotations

import random
import threading
from typing import Any

import httpx
from scrapingpros import SyncClient

from airflow_provider_scrapingpros.sandbox.control import SandboxControl

from .helpers import TERMINAL_JOB, TERMINAL_RUN, TOKEN, BatchItems, get_run, http, list_jobs, url
from .invariants import assert_run_invariants

JOBS = 300


def varied_items(seed: int) -> BatchItems:
    rng = random.Random(seed)
    items: BatchItems = []
    for i in range(JOBS):
        hints: dict[str, Any] = {"sp_latency_ms": rng.randrange(0, 20_000)}
        if i % 10 == 3:
            hints["sp_status"] = 404
        elif i % 10 == 7:
            hints["sp_fail"] = "Connection reset"
        items.append({"url": url(f"live/{i}", **hints), "custom_id": str(i)})
    return items


def counters(run: dict[str, Any]) -> tuple[int, int, int]:
    return run["success_requests"], run["failed_requests"], run["timeout_requests"]


def observe(api: httpx.Client, cid: str, rid: str) -> int:
    """Bracket listings between run reads until the run ends; returns how many were taken."""
    previous = (0, 0, 0)
    observations = 0
    while True:
        before = get_run(api, cid, rid)
        jobs = list_jobs(api, cid, rid, limit=37)
        after = get_run(api, cid, rid)
        terminal = sum(1 for j in jobs if j["status"] in TERMINAL_JOB)
        assert sum(counters(before)) <= terminal <= sum(counters(after)), "I2/I8"
        for run in (before, after):
            assert run["total_requests"] == len(run["job_ids"]) == len(jobs) == JOBS, "I1"
            assert len(run["failed_jobs"]) == run["failed_requests"] + run["timeout_requests"], "I4"
            assert all(now >= then for now, then in zip(counters(run), previous, strict=True)), "I6"
            previous = counters(run)
        assert all(j["is_success"] is None for j in jobs if j["status"] == "processing")
        observations += 1
        if after["status"] in TERMINAL_RUN:
            return observations


def test_invariants_hold_while_the_run_progresses(sp: SandboxControl, client: SyncClient) -> None:
    sp.set_token(TOKEN, max_concurrent_jobs=30)  # ~10 waves of jobs: a run long enough to watch
    batch = client.submit_batch("live", varied_items(seed=11))
    found: dict[str, int] = {}

    def sdk_reader() -> None:
        for result in batch.iter_results(poll_interval=0.005, timeout=30):
            key = result.custom_id or ""
            found[key] = found.get(key, 0) + 1

    reader = threading.Thread(target=sdk_reader)
    reader.start()
    with http(sp.base_url) as api:
        observations = observe(api, batch.collection_id, batch.run_id)
    reader.join(timeout=30)

    assert observations >= 2, "the run ended before it could be observed in progress"
    assert found == {str(i): 1 for i in range(JOBS)}  # the SDK neither missed nor repeated a job
    checked = assert_run_invariants(sp.base_url, TOKEN, batch.collection_id, batch.run_id, page_size=29)
    assert counters(checked.run) == (240, 60, 0)
