"""ScrapingProsRunTrigger against the sandbox over loopback, under asyncio debug mode."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from typing import Any

import pytest

from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from airflow_provider_scrapingpros.triggers.run import ScrapingProsRunTrigger
from tests.triggers.helpers import start_run

GET_RUN = "GET /v1/async/collections/{cid}/runs/{rid}"


def rebuild(trigger: ScrapingProsRunTrigger) -> ScrapingProsRunTrigger:
    """What the triggerer does after a restart: classpath + kwargs, nothing else survives."""
    # Airflow 3.3's airflow.sdk.module_loading re-exports import_string from a private module without
    # marking it as a re-export (3.1 defines it there).
    from airflow.sdk.module_loading import import_string  # type: ignore[attr-defined]

    classpath, kwargs = trigger.serialize()
    json.dumps(kwargs)  # only plain JSON may cross
    return import_string(classpath)(**kwargs)  # type: ignore[no-any-return]


async def first_event(trigger: ScrapingProsRunTrigger) -> dict[str, Any]:
    events = [event.payload async for event in trigger.run()]
    assert len(events) == 1
    return events[0]  # type: ignore[no-any-return]


def run_debug(coro: Any, caplog: pytest.LogCaptureFixture) -> Any:
    """asyncio debug mode with a 50 ms slow-callback threshold; any blocking call shows up in the log."""
    gc.collect()
    gc.freeze()  # a full collection of Airflow's heap takes ~80 ms: not what this test measures
    loop = asyncio.new_event_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = 0.05
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        try:
            return loop.run_until_complete(coro)
        finally:
            loop.close()
            gc.unfreeze()


def slow_callbacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "asyncio" and "Executing" in r.getMessage()]


def test_rebuilt_mid_run_reaches_the_same_event(
    conn: SandboxControl, caplog: pytest.LogCaptureFixture
) -> None:
    # 8 jobs of 30 s simulated latency at time_scale 0.01: the run takes ~0.3 s of wall time once the
    # clock moves. Frozen from before the start until the first trigger is gone, so "mid-run" holds
    # however slow the machine is.
    conn.freeze()
    cid, rid = start_run(
        conn.base_url,
        [f"https://example.com/{i}?sp_latency_ms=30000" for i in range(7)]
        + ["https://example.com/x?sp_status=404&sp_latency_ms=30000"],
    )
    original = ScrapingProsRunTrigger(collection_id=cid, run_id=rid, poll_interval=0.05)

    async def scenario() -> dict[str, Any]:
        first = asyncio.ensure_future(first_event(original))
        # it has polled and seen the run in progress (the sandbox log is the only signal we have)
        give_up = time.monotonic() + 10
        while conn.count(GET_RUN) < 2 and time.monotonic() < give_up:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        assert not first.done()
        first.cancel()  # the triggerer went away mid-run
        conn.resume()
        return await first_event(rebuild(original))

    event = run_debug(scenario(), caplog)
    assert event["status"] == "success"
    assert event["run"] == {
        "collection_id": cid,
        "run_id": rid,
        "status": "completed",
        "total_requests": 8,
        "success_requests": 7,
        "failed_requests": 1,
        "timeout_requests": 0,
        "failed_sample": [
            {
                "job_id": event["run"]["failed_sample"][0]["job_id"],
                "url": "https://example.com/x?sp_status=404&sp_latency_ms=30000",
                "status": "completed",
                "error": "http_404",
            }
        ],
    }
    assert slow_callbacks(caplog) == []


@pytest.mark.parametrize("kind", ["timeout", "execution_timeout"])
def test_deadlines_fire_as_timeout_events(
    conn: SandboxControl, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    cid, rid = start_run(conn.base_url, ["https://example.com/slow?sp_latency_ms=600000"])
    deadline = time.time() + 0.3
    started = time.monotonic()
    trigger = ScrapingProsRunTrigger(
        collection_id=cid,
        run_id=rid,
        poll_interval=10,
        timeout_at=deadline if kind == "timeout" else None,
        execution_deadline=deadline if kind == "execution_timeout" else None,
    )
    event = run_debug(first_event(trigger), caplog)
    assert (event["status"], event["deadline"], event["run"]) == ("timeout", kind, None)
    assert 0.25 < time.monotonic() - started < 2.0  # woke at the deadline, not after a 10 s poll
    assert "continues on the server" in event["message"]


def test_a_long_retry_after_does_not_make_the_timeout_late(
    conn: SandboxControl, caplog: pytest.LogCaptureFixture
) -> None:
    # The hook honours Retry-After up to its 120 s cap; inside a trigger with 3 s left, waiting 30 s
    # would deliver the timeout event 27 s late. The poll is told the time left instead. (3 s, not 1 s:
    # on a slow machine the trigger's first poll came after a 1 s deadline and asked nothing.)
    cid, rid = start_run(conn.base_url, ["https://example.com/slow?sp_latency_ms=600000"])
    conn.set_faults({"seed": 1, "rules": [{"match": GET_RUN, "rate_429": 1.0, "retry_after": 30}]})
    try:
        started = time.monotonic()
        trigger = ScrapingProsRunTrigger(
            collection_id=cid, run_id=rid, poll_interval=10, timeout_at=time.time() + 3.0
        )
        event = run_debug(first_event(trigger), caplog)
    finally:
        conn.set_faults({"seed": 1, "rules": []})
    assert (event["status"], event["deadline"], event["run"]) == ("timeout", "timeout", None)
    assert 2.9 < time.monotonic() - started < 6.0
    assert conn.count(GET_RUN, 429) == 1  # asked once, told 30 s, waited for the deadline instead


def test_transient_api_errors_are_retried_on_the_next_tick(
    conn: SandboxControl, caplog: pytest.LogCaptureFixture
) -> None:
    cid, rid = start_run(conn.base_url, [f"https://example.com/{i}" for i in range(3)])
    conn.script_fault(GET_RUN, "error_5xx", 6)  # more than the hook's own retry budget
    event = run_debug(
        first_event(ScrapingProsRunTrigger(collection_id=cid, run_id=rid, poll_interval=0.02)), caplog
    )
    assert (event["status"], event["run"]["success_requests"]) == ("success", 3)
    assert conn.count(GET_RUN, 200) >= 1


def test_unknown_run_emits_one_error_event(conn: SandboxControl, caplog: pytest.LogCaptureFixture) -> None:
    event = run_debug(
        first_event(ScrapingProsRunTrigger(collection_id="nope", run_id="nope", poll_interval=0.02)), caplog
    )
    assert event["status"] == "error"
    assert "nope" in event["message"]


def test_triggers_on_one_loop_share_one_client_and_it_closes_after_the_last(
    conn: SandboxControl, caplog: pytest.LogCaptureFixture
) -> None:
    """50 run triggers waiting on one loop hold one httpx client between them (client/shared.py),
    not one each; when the last has emitted its event the client is closed."""
    from airflow_provider_scrapingpros.client.shared import leases_on

    conn.freeze()
    runs = [start_run(conn.base_url, [f"https://example.com/s{i}"]) for i in range(50)]

    async def scenario() -> tuple[int, int, list[str]]:
        loop = asyncio.get_running_loop()
        tasks = [
            asyncio.ensure_future(first_event(ScrapingProsRunTrigger(cid, rid, poll_interval=0.05)))
            for cid, rid in runs
        ]
        give_up = time.monotonic() + 20
        while conn.count(GET_RUN) < 2 * len(runs) and time.monotonic() < give_up:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        waiting = leases_on(loop)
        conn.resume()
        events = await asyncio.gather(*tasks)
        return waiting, leases_on(loop), [e["status"] for e in events]

    waiting, after, statuses = run_debug(scenario(), caplog)
    assert (waiting, after, statuses) == (1, 0, ["success"] * 50)
    assert slow_callbacks(caplog) == []
