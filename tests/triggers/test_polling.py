"""The triggerer imports a trigger's module on its event loop when it loads the trigger, then runs
it there. In a cold process — the state of a triggerer that meets its first ScrapingPros trigger —
neither the import nor the first poll may hold the loop: asyncio debug mode with a 50 ms
slow-callback threshold must log nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from tests.triggers.helpers import start_run

COLD_TRIGGERER = """
import asyncio, gc, json, logging, sys
import airflow.triggers.base  # a triggerer has Airflow loaded before it loads any trigger
gc.collect(); gc.freeze()  # Airflow's own heap: its collections are not this trigger's doing

slow = []
class Slow(logging.Handler):
    def emit(self, record):
        slow.append(record.getMessage())
logging.getLogger("asyncio").addHandler(Slow())
logging.getLogger("asyncio").setLevel(logging.WARNING)

async def load_and_run(classpath, kwargs):
    from airflow.sdk.module_loading import import_string
    trigger = import_string(classpath)(**kwargs)  # on the loop, like TriggerRunner.create_triggers
    async for event in trigger.run():
        return event.payload

loop = asyncio.new_event_loop()
loop.set_debug(True)
loop.slow_callback_duration = 0.05
classpath, kwargs = json.loads(sys.argv[1])
payload = loop.run_until_complete(load_and_run(classpath, kwargs))
print(json.dumps({"event": payload, "slow": slow}))
"""


@pytest.mark.parametrize(
    "classpath",
    [
        "airflow_provider_scrapingpros.triggers.run.ScrapingProsRunTrigger",
        "airflow_provider_scrapingpros.triggers.export.ScrapingProsExportFollowTrigger",
    ],
)
def test_loading_a_trigger_and_its_first_poll_never_block_the_loop(
    conn: SandboxControl,
    classpath: str,
) -> None:
    cid, rid = start_run(conn.base_url, ["https://example.com/a"])
    kwargs: dict[str, object] = {"collection_id": cid, "run_id": rid, "poll_interval": 0.05}
    if classpath.endswith("FollowTrigger"):
        kwargs["wake_at_done"] = 1
    out = subprocess.run(
        [sys.executable, "-c", COLD_TRIGGERER, json.dumps([classpath, kwargs])],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONASYNCIODEBUG": "1"},
        timeout=120,
    ).stdout
    result = json.loads(out.splitlines()[-1])
    assert result["slow"] == []
    assert result["event"]["status"] in ("success", "ready")


COLD_BURST = """
import asyncio, json, sys
from airflow_provider_scrapingpros.triggers import polling
from airflow_provider_scrapingpros.triggers.run import ScrapingProsRunTrigger

imports = []
real = polling._import_runtime
def counted():
    imports.append(1)
    real()
polling._import_runtime = counted  # counts the real import's runs; it still runs

async def main(runs):
    async def one(cid, rid):
        async for event in ScrapingProsRunTrigger(cid, rid, poll_interval=0.05).run():
            return event.payload["status"]
    return await asyncio.gather(*(one(cid, rid) for cid, rid in runs))

statuses = asyncio.run(main(json.loads(sys.argv[1])))
print(json.dumps({"statuses": statuses, "imports": len(imports)}))
"""


def test_triggers_starting_together_wait_for_one_runtime_import(conn: SandboxControl) -> None:
    """A triggerer's restart starts all its triggers in the same loop steps: they share one import
    in one worker thread instead of queueing one thread hop each."""
    runs = [start_run(conn.base_url, [f"https://example.com/b{i}"]) for i in range(100)]
    out = subprocess.run(
        [sys.executable, "-c", COLD_BURST, json.dumps(runs)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert json.loads(out.splitlines()[-1]) == {"statuses": ["success"] * 100, "imports": 1}
