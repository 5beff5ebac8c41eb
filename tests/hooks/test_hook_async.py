"""The async twins round-trip against the sandbox under asyncio debug mode: no callback may hold the
event loop for 50 ms or more, and nothing may warn (unclosed clients, never-awaited coroutines).

The sandbox runs in its own process here (`sp_process`), so the loop's timing measures the hook,
not a server sharing our GIL."""

from __future__ import annotations

import asyncio
import gc
import logging
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from airflow_provider_scrapingpros.exceptions import ScrapingProsNotFoundError
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook

from .helpers import logged, urls

T = TypeVar("T")
JOBS = "GET /v1/async/collections/{cid}/runs/{rid}/jobs"


def run_debug(make: Callable[[], Awaitable[T]], caplog: pytest.LogCaptureFixture) -> T:
    """Run on a fresh loop in debug mode (50 ms slow-callback threshold); fail on slow callbacks or
    warnings of any kind.

    The heap that exists before the scenario (Airflow, pytest, the sandbox modules: ~185k objects)
    is frozen first: a full collection of it takes ~80 ms here and can fire inside any loop step,
    whoever allocates. Objects the scenario creates are still collected, so a hook that piled up
    garbage would still show.
    """
    gc.collect()
    gc.freeze()
    loop = asyncio.new_event_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = 0.05
    with caplog.at_level(logging.DEBUG, logger="asyncio"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = loop.run_until_complete(make())  # type: ignore[arg-type]
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()
            gc.unfreeze()
            gc.collect()  # surfaces ResourceWarnings of anything left open
    loud = [r.getMessage() for r in caplog.records if r.name == "asyncio" and r.levelno >= logging.WARNING]
    slow = [
        r.getMessage() for r in caplog.records if "took" in r.getMessage() and "Executing" in r.getMessage()
    ]
    assert (loud, slow) == ([], [])
    assert [str(w.message) for w in caught] == []
    return result


async def _wait_terminal(hook: ScrapingProsHook, cid: str, rid: str) -> Any:
    for _ in range(1000):
        run = await hook.aget_run(cid, rid)
        if run.is_terminal:
            return run
        await asyncio.sleep(0.02)
    raise AssertionError("run did not finish")


def test_async_twins_round_trip_without_blocking_the_loop(
    sp_process: Any, set_conn: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sp = sp_process
    set_conn(sp.base_url, backoff_base=0.01, backoff_cap=0.05)
    hook = ScrapingProsHook()

    async def scenario() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with hook.async_session():
            created = await hook.acreate_collection(
                "async", [*urls(4), {"url": "https://example.com/x?sp_status=500"}]
            )
            out["got"] = await hook.aget_collection(created.id)
            out["listed"] = await hook.alist_collections(name="async")
            out["updated"] = await hook.aupdate_collection(created.id, "async-2", urls(5, "q"))
            run = await hook.acreate_run(created.id)
            out["run"], out["final"] = run, await _wait_terminal(hook, created.id, run.run_id)
            out["runs"] = await hook.alist_runs(created.id, status_filter="completed")
            out["jobs"] = [
                j async for j in hook.aiter_jobs(created.id, run.run_id, page_size=2, order_by="completed_at")
            ]
            out["page"] = await hook.aget_jobs_page(created.id, run.run_id, include_results=True, limit=3)
            first = out["jobs"][0].job_public_id
            out["result"] = await hook.aget_job_result(created.id, run.run_id, first)
            out["scrape"] = await hook.ascrape({"url": "https://example.com/async-scrape"})
            out["health"] = await hook.ahealth()
            out["parallel"] = await asyncio.gather(
                *(hook.aget_run(created.id, run.run_id) for _ in range(20))
            )
        # Outside a session every call opens and closes its own client.
        out["again"] = await hook.aget_collection(created.id)
        await hook.adelete_collection(created.id)
        with pytest.raises(ScrapingProsNotFoundError):
            await hook.aget_collection(created.id)
        out["cid"] = created.id
        return out

    out = run_debug(scenario, caplog)
    cid, run = out["cid"], out["run"]
    assert (out["got"].id, out["got"].name) == (cid, "async")
    assert [c.id for c in out["listed"]] == [cid]
    assert (out["updated"].name, out["again"].name) == ("async-2", "async-2")
    assert (run.total_requests, out["final"].status, out["final"].success_requests) == (5, "completed", 5)
    assert [r.run_id for r in out["runs"].items] == [run.run_id]
    assert sorted(j.job_public_id for j in out["jobs"]) == sorted(run.job_ids)
    assert logged(sp, JOBS) == 4  # 5 jobs by 2 (3 pages) + the inline page
    assert len(out["page"].items) == 3 and all(j.result and j.result.html for j in out["page"].items)
    assert out["result"].message == "OK"
    assert out["scrape"].statusCode == 200 and out["health"].status == "ok"
    assert {r.run_id for r in out["parallel"]} == {run.run_id}
    assert sp.stats()["collections"] == 0


def test_large_pages_do_not_hold_the_loop(
    sp_process: Any, set_conn: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A page of inline bodies is megabytes of JSON; parsing it must not hold the loop. The sandbox
    is the one in its own process: the in-process one encodes this 8 MB page under our GIL."""
    sp = sp_process
    set_conn(sp.base_url)
    hook = ScrapingProsHook()
    setup = hook.create_collection("big", urls(40, "b", "?sp_bytes=200000"))
    run = hook.create_run(setup.id)

    async def scenario() -> tuple[int, int]:
        async with hook.async_session():
            await _wait_terminal(hook, setup.id, run.run_id)
            sizes = [
                len(j.result.html or "")
                async for j in hook.aiter_jobs(setup.id, run.run_id, include_results=True, page_size=100)
                if j.result
            ]
        return len(sizes), min(sizes)

    count, smallest = run_debug(scenario, caplog)
    assert count == 40
    assert smallest >= 200_000
