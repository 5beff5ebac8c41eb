"""Follow mode at the runner level (many passes, both layouts) and the follow trigger itself."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_scrapingpros.exceptions import ScrapingProsError
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from airflow_provider_scrapingpros.runs.events import ExportWakeEvent
from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from airflow_provider_scrapingpros.triggers.export import ScrapingProsExportFollowTrigger
from tests.conftest import DEV_TOKEN
from tests.export.helpers import export, mixed_requests, runner, start_run, tree, wait_terminal

OPTIONS: dict[str, dict[str, Any]] = {
    "files": {"layout": "files", "segment_size": 25},
    "jsonl": {"layout": "jsonl", "part_max_records": 15},
}


def _slow_run(sp: SandboxControl, hook: ScrapingProsHook, prefix: str) -> tuple[str, str]:
    sp.set_token(DEV_TOKEN, max_concurrent_jobs=4)
    return start_run(hook, mixed_requests(120, prefix, latency_ms=2000))


@pytest.mark.parametrize("layout", ["files", "jsonl"])
def test_following_a_running_run_equals_exporting_after(
    layout: str, sp: SandboxControl, hook: ScrapingProsHook, tmp_path: Path
) -> None:
    cid, rid = _slow_run(sp, hook, f"fl-{layout}")
    root = ObjectStoragePath(f"file://{tmp_path}/follow")
    passes, open_parts_saved = 0, set()
    while True:
        outcome = runner(hook, root, cid, rid, **OPTIONS[layout]).run_pass(follow=True)
        passes += 1
        if outcome.finished:
            break
        assert outcome.run is not None and outcome.run.status == "in_progress"
        assert outcome.recorded <= 120
        open_parts_saved |= {k for k in tree(root) if k.startswith("_export/pieces/")}
        time.sleep(0.05)
    assert passes >= 4
    if layout == "jsonl":
        assert open_parts_saved  # a part was still open at some pause and was carried over
    after = ObjectStoragePath(f"file://{tmp_path}/after")
    export(hook, after, cid, rid, **OPTIONS[layout])
    assert tree(root) == tree(after)


def test_without_follow_a_running_run_is_refused(
    sp: SandboxControl, hook: ScrapingProsHook, tmp_path: Path
) -> None:
    cid, rid = _slow_run(sp, hook, "nofollow")
    root = ObjectStoragePath(f"file://{tmp_path}/x")
    with pytest.raises(ScrapingProsError, match=r"follow=False\. Set follow=True"):
        runner(hook, root, cid, rid).run_pass(follow=False)
    assert tree(root) == {"_export/export.json": tree(root)["_export/export.json"]}  # nothing exported


async def _events(trigger: ScrapingProsExportFollowTrigger) -> list[dict[str, Any]]:
    asyncio.get_running_loop().slow_callback_duration = 0.05
    return [event.payload async for event in trigger.run()]


def _run_debug(trigger: ScrapingProsExportFollowTrigger) -> ExportWakeEvent:
    gc.collect()
    gc.freeze()  # a full collection of the test process's heap is not what this test measures
    try:
        [payload] = asyncio.run(_events(trigger), debug=True)
    finally:
        gc.unfreeze()
    json.dumps(payload)  # plain JSON only
    return ExportWakeEvent.model_validate(payload)


def test_trigger_wakes_when_enough_jobs_finished_without_blocking_the_loop(
    sp: SandboxControl, hook: ScrapingProsHook, caplog: pytest.LogCaptureFixture
) -> None:
    cid, rid = _slow_run(sp, hook, "trig")
    trigger = ScrapingProsExportFollowTrigger(cid, rid, wake_at_done=60, poll_interval=0.05)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_scrapingpros.triggers.export.ScrapingProsExportFollowTrigger"
    rebuilt = ScrapingProsExportFollowTrigger(**json.loads(json.dumps(kwargs)))
    caplog.set_level(logging.WARNING, logger="asyncio")
    event = _run_debug(rebuilt)
    assert event.status == "ready" and event.done is not None and event.done >= 60
    assert event.run_status in ("in_progress", "completed")
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []  # no slow callbacks
    wait_terminal(hook, cid, rid)
    done = _run_debug(ScrapingProsExportFollowTrigger(cid, rid, wake_at_done=10_000, poll_interval=0.05))
    assert (done.status, done.run_status, done.done) == ("ready", "completed", 120)


def test_trigger_stops_at_the_execution_deadline(sp: SandboxControl, hook: ScrapingProsHook) -> None:
    cid, rid = _slow_run(sp, hook, "late")
    event = _run_debug(
        ScrapingProsExportFollowTrigger(
            cid, rid, wake_at_done=120, poll_interval=0.05, execution_deadline=time.time()
        )
    )
    assert (event.status, event.deadline) == ("timeout", "execution_timeout")
