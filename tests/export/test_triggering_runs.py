"""The export operator on a DAG scheduled on a collection's Asset: `collection_id=None, run_id=None`
export every run the triggering Asset events announce, each into its own `{run_id}` folder, byte for
byte what an export told the ids writes; wrong or missing events fail before any API call."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath
from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult
from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

from airflow_provider_scrapingpros.client.models import Run
from airflow_provider_scrapingpros.exceptions import ScrapingProsInputError
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from airflow_provider_scrapingpros.operators.export import ScrapingProsExportResultsOperator
from airflow_provider_scrapingpros.runs.completion import RunCompleted, collection_uri
from airflow_provider_scrapingpros.sandbox import Sandbox
from tests.export.helpers import make_run, mixed_requests, tree
from tests.task_context import context_for


@pytest.fixture(scope="module")
def two_runs(sandbox: Sandbox, api_env: None) -> Iterator[list[Run]]:
    sandbox.control.reset()
    hook = ScrapingProsHook()
    runs = [make_run(hook, mixed_requests(6, f"ev{i}"))[2] for i in range(2)]
    yield runs
    hook.close()


def _event(run: Run, base_url: str, *, seen_at: float, extra: dict[str, Any] | None = None) -> Any:
    uri = collection_uri(base_url, run.collection_id)
    completed = RunCompleted.from_run(run, "http://x/run", seen_at=seen_at).model_dump()
    payload = extra or {"from_trigger": True, "payload": completed}  # a watcher's event, as Airflow stores it
    return AssetEventDagRunReferenceResult.model_validate(
        {
            "asset": {"name": uri, "uri": uri, "extra": {}},
            "extra": payload,
            "source_task_id": None,
            "source_dag_id": None,
            "source_run_id": None,
            "source_map_index": -1,
            "source_aliases": [],
            "timestamp": "2026-12-02T00:00:00Z",
        }
    )


def _context(events: list[Any]) -> dict[str, Any]:
    context = context_for()
    context["triggering_asset_events"] = TriggeringAssetEventsAccessor.build(events)
    return context


def _export(destination: str, context: dict[str, Any], **ids: Any) -> Any:
    op = ScrapingProsExportResultsOperator(task_id="export", destination=destination, **ids)
    return op.execute(context)


def test_each_announced_run_is_exported_into_its_own_folder_like_an_explicit_export(
    two_runs: list[Run], sandbox: Sandbox, tmp_path: Path
) -> None:
    first, second = two_runs
    # Newer event first: the export still goes oldest first; a repeated event is exported once.
    events = [_event(second, sandbox.base_url, seen_at=200), _event(first, sandbox.base_url, seen_at=100)]
    events.append(_event(second, sandbox.base_url, seen_at=200))
    result = _export(f"file://{tmp_path}/ev/{{run_id}}/", _context(events))
    assert [item["run_id"] for item in result["exports"]] == [first.run_id, second.run_id]
    assert [item["exported"] + item["failed"] for item in result["exports"]] == [6, 6]

    explicit = _export(
        f"file://{tmp_path}/explicit/",
        context_for(),
        collection_id=second.collection_id,
        run_id=second.run_id,
    )
    assert explicit["jobs"] == 6
    by_event = tree(ObjectStoragePath(f"file://{tmp_path}/ev/{second.run_id}/"))
    assert by_event == tree(ObjectStoragePath(f"file://{tmp_path}/explicit/"))
    assert "_SUCCESS.json" in by_event


def test_one_event_returns_the_plain_summary(two_runs: list[Run], sandbox: Sandbox, tmp_path: Path) -> None:
    run = two_runs[0]
    result = _export(f"file://{tmp_path}/one/", _context([_event(run, sandbox.base_url, seen_at=1)]))
    assert (result["run_id"], result["collection_id"], result["jobs"]) == (run.run_id, run.collection_id, 6)


def _refused(destination: str, context: dict[str, Any], sandbox: Sandbox, match: str) -> None:
    sandbox.control.clear_requests()
    with pytest.raises(ScrapingProsInputError, match=match):
        _export(destination, context)
    assert sandbox.control.requests() == []  # refused before any API call


def test_several_runs_into_one_folder_are_refused_first(
    two_runs: list[Run], sandbox: Sandbox, tmp_path: Path
) -> None:
    events = [_event(run, sandbox.base_url, seen_at=i) for i, run in enumerate(two_runs)]
    _refused(f"file://{tmp_path}/mixed/", _context(events), sandbox, r"has no \{run_id\}")
    assert not (tmp_path / "mixed").exists()


def test_no_announcing_event_or_another_api_is_refused_first(
    two_runs: list[Run], sandbox: Sandbox, tmp_path: Path
) -> None:
    run = two_runs[0]
    _refused(f"file://{tmp_path}/x/", context_for(), sandbox, "no triggering Asset event announces")
    other = _event(run, sandbox.base_url, seen_at=1, extra={"rows": 3})  # another producer's event
    _refused(f"file://{tmp_path}/x/", _context([other]), sandbox, "no triggering Asset event announces")
    elsewhere = _event(run, "https://api.scrapingpros.com", seen_at=1)
    _refused(
        f"file://{tmp_path}/x/", _context([elsewhere]), sandbox, "is for the API at api.scrapingpros.com"
    )


def test_ids_come_both_or_neither() -> None:
    with pytest.raises(ValueError, match="Pass both collection_id and run_id, or neither"):
        ScrapingProsExportResultsOperator(task_id="e", collection_id="c", destination="file:///tmp/x")
