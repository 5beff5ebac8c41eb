"""Trigger class paths are stored in Airflow's database while a task is deferred, so a path a
release wrote must still load in the next one. 0.1.0 wrote `triggers.scrapingpros`; the trigger now
lives in `triggers.run`."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from airflow_provider_scrapingpros.triggers.run import ScrapingProsRunTrigger
from tests.triggers.helpers import start_run

# What 0.1.0's ScrapingProsRunTrigger.serialize() returned, as Airflow stored it.
CLASSPATH_0_1_0 = "airflow_provider_scrapingpros.triggers.scrapingpros.ScrapingProsRunTrigger"


def kwargs_0_1_0(collection_id: str, run_id: str) -> dict[str, Any]:
    return {
        "collection_id": collection_id,
        "run_id": run_id,
        "scrapingpros_conn_id": "scrapingpros_default",
        "poll_interval": 0.1,
        "timeout_at": None,
        "execution_deadline": None,
        "first_poll_at": None,
    }


def load_like_the_triggerer(classpath: str) -> Any:
    # The triggerer resolves stored class paths with Airflow's own import_string.
    from airflow.sdk.module_loading import import_string  # type: ignore[attr-defined]

    return import_string(classpath)


def test_a_trigger_stored_by_0_1_0_deserializes_and_runs_to_its_event(
    conn: SandboxControl,
) -> None:
    cid, rid = start_run(conn.base_url, ["https://example.com/a", "https://example.com/b"])
    cls = load_like_the_triggerer(CLASSPATH_0_1_0)
    assert cls is ScrapingProsRunTrigger
    trigger = cls(**kwargs_0_1_0(cid, rid))

    async def events() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    (event,) = asyncio.run(asyncio.wait_for(events(), timeout=30))
    assert (event["status"], event["collection_id"], event["run_id"]) == ("success", cid, rid)
    assert event["run"]["success_requests"] == 2


@pytest.mark.parametrize("cls", [ScrapingProsRunTrigger])
def test_new_triggers_serialize_under_their_own_module(cls: type[ScrapingProsRunTrigger]) -> None:
    classpath, kwargs = cls(collection_id="c", run_id="r").serialize()
    assert classpath == "airflow_provider_scrapingpros.triggers.run.ScrapingProsRunTrigger"
    assert load_like_the_triggerer(classpath)(**kwargs).serialize() == (classpath, kwargs)
