"""Whole DAGs with the export operator, run by `dag.test()` in real Airflow: the pipeline's XCom and
Asset metadata, follow mode through real deferrals, a crash and Airflow's retry, and retention."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_scrapingpros.client.cost import CostEstimate
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from airflow_provider_scrapingpros.sandbox import Sandbox
from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from tests.conftest import DEV_TOKEN
from tests.e2e.conftest import run_dag, task_states
from tests.export.conftest import S3_CONN_ID
from tests.export.helpers import (
    JOBS_ROUTE,
    export,
    make_aged_run,
    make_run,
    mixed_requests,
    read_manifest,
    tree,
)

pytestmark = pytest.mark.usefixtures("airflow_db")
SUMMARY_KEYS = {
    "credits",
    "success_criterion",
    "destination",
    "manifest",
    "success_marker",
    "collection_id",
    "run_id",
    "run_status",
    "layout",
    "jobs",
    "exported",
    "failed",
    "expired",
    "lost",
    "successful",
    "objects",
    "bytes",
}


def _asset_extras(dag_run: Any) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.scalars(select(AssetEvent).where(AssetEvent.source_run_id == dag_run.run_id)).all()
        return [dict(event.extra) for event in events]


def test_pipeline_summary_in_xcom_and_asset_metadata(
    sp_conn: SandboxControl, xcom: Any, make_bucket: Callable[..., str]
) -> None:
    bucket = make_bucket()
    conf = {
        "requests": mixed_requests(60, "pipe"),
        "destination": f"s3://{bucket}/daily/pipeline",
        "storage_conn_id": S3_CONN_ID,
    }
    dag_run = run_dag("sp_export_pipeline", conf)
    assert task_states(dag_run) == {
        "create": "success",
        "run": "success",
        "export": "success",
        "count_exported": "success",
    }
    summary = xcom(dag_run, "export")
    assert set(summary) == SUMMARY_KEYS
    expected = {
        "jobs": 60,
        "exported": 54,
        "failed": 6,
        "expired": 0,
        "lost": 0,
        "successful": 48,
        "layout": "jsonl",
    }
    assert {k: summary[k] for k in expected} == expected
    assert summary["manifest"] == f"s3://{bucket}/daily/pipeline/_manifest.jsonl"
    assert xcom(dag_run, "count_exported") == {"manifest": summary["manifest"], "exported": 54, "jobs": 60}
    assert _asset_extras(dag_run) == [summary]  # the same figures as metadata of the asset event
    assert len(json.dumps(summary)) < 1000  # ids, URIs and counts only: never page content


def test_follow_mode_equals_export_after_completion(
    sp_conn: SandboxControl, xcom: Any, tmp_path: Path
) -> None:
    # ~12 s of run (100 jobs, 4 at a time, 500 ms each at time scale 0.01): the export defers
    # repeatedly. At 200 ms a job (5 s) a slow pass on a loaded machine outlived the run, leaving one
    # resumed pass (seen on the 3.1 lane, on the code before this test's change too).
    sp_conn.set_token(DEV_TOKEN, max_concurrent_jobs=4)
    conf: dict[str, Any] = {
        "requests": mixed_requests(100, "follow", latency_ms=50000),
        "destination": f"file://{tmp_path}/follow",
    }
    dag_run = run_dag("sp_export_follow", conf)
    assert task_states(dag_run) == {"create": "success", "start": "success", "export": "success"}
    started = xcom(dag_run, "start")
    assert started["status"] == "in_progress"  # the export began while jobs were still running
    resumed_passes = [r for r in sp_conn.requests(route=JOBS_ROUTE) if "since_completed_at" in r["query"]]
    assert len(resumed_passes) >= 2  # it exported, deferred, woke up and continued, at least twice

    hook = ScrapingProsHook()
    after = ObjectStoragePath(f"file://{tmp_path}/after")
    # The same cost estimate as the DAG's export found upstream, so `_SUCCESS.json` can match byte for byte
    cost = CostEstimate.model_validate(xcom(dag_run, "start", key="scrapingpros_cost"))
    assert cost.source == "submitted"
    ids = started["collection_id"], started["run_id"]
    export(hook, after, *ids, layout="jsonl", part_max_records=15, cost=cost)
    follow = ObjectStoragePath(conf["destination"])
    assert tree(follow) == tree(after)
    assert xcom(dag_run, "export")["jobs"] == 100


def test_crash_between_writes_then_airflow_retry(
    sp_conn: SandboxControl,
    xcom: Any,
    make_bucket: Callable[..., str],
    versions: Callable[[str], dict[str, int]],
    tmp_path: Path,
) -> None:
    hook = ScrapingProsHook()
    cid, rid, _ = make_run(hook, mixed_requests(150, "crash"))
    bucket = make_bucket(versioned=True)
    conf = {
        "collection_id": cid,
        "run_id": rid,
        "destination": f"s3://{bucket}/x",
        "storage_conn_id": S3_CONN_ID,
    }
    dag_run = run_dag("sp_export_crash_retry", conf)
    assert task_states(dag_run) == {"export": "success"}
    [ti] = dag_run.get_task_instances()
    assert ti.try_number == 2  # the first try crashed after 60 writes

    clean = ObjectStoragePath(f"file://{tmp_path}/clean")
    export(hook, clean, cid, rid)
    crashed = ObjectStoragePath(f"s3://{bucket}/x", conn_id=S3_CONN_ID)
    assert tree(crashed) == tree(clean)
    outputs = {k: n for k, n in versions(bucket).items() if not k.startswith("x/_export/")}
    assert len(outputs) == len(tree(clean)) and set(outputs.values()) == {1}  # no object written twice


@pytest.mark.parametrize("on_expired", ["fail", "record"])
def test_expired_bodies_in_a_dag(
    on_expired: str,
    sandbox_factory: Callable[..., Sandbox],
    airflow_db: None,
    monkeypatch: pytest.MonkeyPatch,
    xcom: Any,
    tmp_path: Path,
) -> None:
    sb = sandbox_factory(clock="manual", time_scale=1.0, worker_timeout=200_000)
    monkeypatch.setenv(
        "AIRFLOW_CONN_SCRAPINGPROS_DEFAULT",
        json.dumps({"conn_type": "scrapingpros", "host": sb.base_url, "password": DEV_TOKEN}),
    )
    aged = make_aged_run(sb, ScrapingProsHook(), 20)
    destination = f"file://{tmp_path}/aged"
    conf = {"collection_id": aged["cid"], "run_id": aged["rid"], "destination": destination}
    dag_run = run_dag(f"sp_export_expired_{on_expired}", conf)
    manifest = read_manifest(ObjectStoragePath(destination))
    assert sum(m["state"] == "expired" for m in manifest) == 10
    assert sum(m["state"] == "exported" for m in manifest) == 10  # written before failing
    if on_expired == "fail":
        assert task_states(dag_run) == {"export": "failed"}
        assert not (tmp_path / "aged" / "_SUCCESS.json").exists()
    else:
        assert task_states(dag_run) == {"export": "success"}
        assert xcom(dag_run, "export")["expired"] == 10
