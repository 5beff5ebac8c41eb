"""Whole DAGs under `dag.test()` with the real OpenLineage provider (file transport): the datasets
and facets of every ScrapingPros task's events, by exact name and value."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from airflow_provider_scrapingpros.sandbox import Sandbox
from tests.export.conftest import S3_CONN_ID
from tests.export.helpers import mixed_requests, start_run, wait_terminal
from tests.lineage.conftest import Emitted, datasets

pytestmark = pytest.mark.usefixtures("airflow_db")
SCHEMA_URL = "https://pypi.org/project/airflow-provider-scrapingpros/#lineage-openlineage"


def _facet(event: dict[str, Any], name: str) -> dict[str, Any]:
    facet: dict[str, Any] = event["run"]["facets"][name]
    assert facet["_schemaURL"] == SCHEMA_URL
    return {k: v for k, v in facet.items() if not k.startswith("_")}


def test_pipeline_create_update_run_export(
    emit: Callable[..., Emitted], sandbox: Sandbox, make_bucket: Callable[..., str]
) -> None:
    bucket = make_bucket()
    conf = {
        "requests": mixed_requests(20, "ol"),
        "destination": f"s3://{bucket}/ol/{{run_id}}/",
        "storage_conn_id": S3_CONN_ID,
    }
    out = emit("sp_lineage_pipeline", conf)
    assert set(out.states.values()) == {"success"}, out.states
    api = sandbox.base_url  # http://127.0.0.1:<port>: the namespace is the API's scheme://host
    run, summary = out.xcoms["run"], out.xcoms["export"]
    cid, rid = run["collection_id"], run["run_id"]
    collection, the_run = (api, f"collections/{cid}"), (api, f"collections/{cid}/runs/{rid}")

    for task in ("create", "update"):
        complete = out.task(task, "COMPLETE")
        assert (datasets(complete["inputs"]), datasets(complete["outputs"])) == ([], [collection])

    starts = out.all("run", "START")  # deferred: it starts again when the trigger fires
    assert len(starts) == 2
    for start in starts:
        assert (datasets(start["inputs"]), datasets(start["outputs"])) == ([collection], [])
    complete = out.task("run", "COMPLETE")
    assert (datasets(complete["inputs"]), datasets(complete["outputs"])) == ([collection], [the_run])
    expected_run = {
        "collection_id": cid,
        "run_id": rid,
        "status": "completed",
        "outcome": "partial",
        "counters": {
            "total_requests": 20,
            "success_requests": 16,
            "failed_requests": 3,
            "timeout_requests": 1,
        },
        "run_url": f"{api}/v1/async/collections/{cid}/runs/{rid}",
    }
    # 20 plain requests recorded by `create`: at most 20 credits, 16 successes charged
    expected_run |= {"estimated_credits": 20, "credits_used": 16}
    assert (run["estimated_credits"], run["credits_used"]) == (20, 16)
    assert _facet(complete, "scrapingpros_run") == expected_run

    destination = (f"s3://{bucket}", f"ol/{rid}")
    start = out.task("export", "START")
    assert (datasets(start["inputs"]), datasets(start["outputs"])) == ([collection, the_run], [destination])
    complete = out.task("export", "COMPLETE")
    assert (datasets(complete["inputs"]), datasets(complete["outputs"])) == (
        [collection, the_run],
        [destination],
    )
    [written] = complete["outputs"]
    stats = {k: v for k, v in written["outputFacets"]["outputStatistics"].items() if not k.startswith("_")}
    assert stats == {"rowCount": 18, "size": summary["bytes"]} and summary["exported"] == 18
    facet = _facet(complete, "scrapingpros_run")
    assert facet["export"] == {
        "layout": "jsonl",
        "jobs": 20,
        "exported": 18,
        "failed": 2,
        "expired": 0,
        "lost": 0,
        "successful": 16,
        "objects": 1,
        "bytes": summary["bytes"],
    }
    assert {k: facet[k] for k in ("collection_id", "run_id", "status")} == {
        "collection_id": cid,
        "run_id": rid,
        "status": "completed",
    }
    assert summary["credits"]["credits_used"] == 16
    assert (facet["estimated_credits"], facet["credits_used"]) == (20, 16)
    assert facet["success_criterion_version"] == "content_success_v1"


def test_hook_lineage_of_a_task_that_uses_the_hook(emit: Callable[..., Emitted], sandbox: Sandbox) -> None:
    hook = ScrapingProsHook()
    cid, rid = start_run(hook, mixed_requests(3, "hook"), name="lineage-hook")
    wait_terminal(hook, cid, rid)
    out = emit("sp_lineage_hook", {"collection_id": cid, "run_id": rid})
    assert out.states == {"read_with_hook": "success"}
    complete = out.task("read_with_hook", "COMPLETE")
    # what the hook reported to Airflow's collector, once although it read the run twice
    the_run = (sandbox.base_url, f"collections/{cid}/runs/{rid}")
    assert (datasets(complete["inputs"]), datasets(complete["outputs"])) == ([the_run], [])


def test_failed_run_task_carries_its_datasets_and_the_error(
    emit: Callable[..., Emitted], sandbox: Sandbox
) -> None:
    requests = [f"https://example.com/ok/{i}" for i in range(3)] + ["https://example.com/gone?sp_status=404"]
    out = emit("sp_lineage_failure", {"requests": requests})
    assert out.states == {"create": "success", "run": "failed"}
    api, cid = sandbox.base_url, out.xcoms["create"]
    fail = out.task("run", "FAIL")
    [the_run] = datasets(fail["outputs"])
    assert the_run[0] == api and the_run[1].startswith(f"collections/{cid}/runs/")
    rid = the_run[1].rsplit("/", 1)[1]
    assert datasets(fail["inputs"]) == [(api, f"collections/{cid}")]
    assert _facet(fail, "scrapingpros_run") == {"collection_id": cid, "run_id": rid}
    assert "max_failed_ratio" in fail["run"]["facets"]["errorMessage"]["message"]


def test_sync_scrape_reads_the_page_and_writes_the_destination(
    emit: Callable[..., Emitted], tmp_path: Path
) -> None:
    url = "https://Example.com/ol/page?session=secret"
    out = emit("sp_lineage_scrape", {"url": url, "destination": f"file://{tmp_path}/pages/page.html"})
    assert out.states == {"scrape": "success"}
    result = out.xcoms["scrape"]
    complete = out.task("scrape", "COMPLETE")
    # the query (session ids, keys) stays out of the dataset name; the facet keeps the URL as given
    assert datasets(complete["inputs"]) == [("https://example.com", "/ol/page")]
    assert datasets(complete["outputs"]) == [("file", f"{tmp_path}/pages/page.html")]
    expected = {"url": url, "status_code": 200, "success": True}
    if result.get("credits_charged") is not None:
        expected["credits_charged"] = result["credits_charged"]
    assert _facet(complete, "scrapingpros_scrape") == expected
    start = out.task("scrape", "START")
    assert (datasets(start["inputs"]), datasets(start["outputs"])) == (
        [("https://example.com", "/ol/page")],
        [],
    )
