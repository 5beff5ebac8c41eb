"""The shipped example DAGs: parse cleanly with no I/O at parse time, and run to success against
the sandbox with `dag.test()`, with their outputs checked."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_scrapingpros.sandbox import Sandbox
from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from tests.conftest import DEV_TOKEN
from tests.e2e.conftest import run_dag, task_states

EXAMPLES = Path(__file__).parents[2] / "example_dags"
RULES = json.loads((EXAMPLES / "data" / "sandbox_rules.json").read_text())
_opened: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _opened is not None and event == "open" and isinstance(args[0], str) and "/data/" in args[0]:
        _opened.append(args[0])


sys.addaudithook(_audit)  # audit hooks cannot be removed; it records only while _opened is a list


@pytest.fixture
def export_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AIRFLOW_VAR_SCRAPINGPROS_EXPORT_ROOT", f"file://{tmp_path}")
    return tmp_path


def test_examples_parse_without_api_calls_or_file_reads(sp_conn: SandboxControl) -> None:
    global _opened
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        # The same class's 3.1 home; on 3.3 mypy also sees this deprecated re-export (a module __getattr__).
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    _opened = []
    try:
        bag = DagBag(dag_folder=str(EXAMPLES))
    finally:
        opened, _opened = _opened, None
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == [
        "example_scrapingpros_daily",
        "example_scrapingpros_downstream",
        "example_scrapingpros_fan_out",
        "example_scrapingpros_sensor",
        "example_scrapingpros_sync_scrape",
        "example_scrapingpros_watch_collection",
        "example_scrapingpros_webhook_export",
    ]
    assert opened == []
    assert sp_conn.count() == 0


def test_daily_then_downstream(sp_conn: SandboxControl, export_root: Path, xcom: Any) -> None:
    sp_conn.set_rules(RULES)
    daily = run_dag("example_scrapingpros_daily")
    assert task_states(daily) == {
        "upsert_collection": "success",
        "scrape": "success",
        "rescrape_failures": "success",
        "export_results": "success",
    }
    scrape = xcom(daily, "scrape")
    assert {
        k: scrape[k] for k in ("total_requests", "success_requests", "failed_requests", "timeout_requests")
    } == {
        "total_requests": 300,
        "success_requests": 254,
        "failed_requests": 40,
        "timeout_requests": 6,
    }
    rescrape = xcom(daily, "rescrape_failures")
    # 12 flash-sale pages are walled until `browser` (round 2); the 8 broken and 6 slow pages fail
    # every round; the 20 discontinued (404) are never resubmitted.
    assert [(r["round"], r["requests"], r["succeeded"]) for r in rescrape["rounds"]] == [
        (0, 300, 254),
        (1, 26, 0),
        (2, 26, 12),
    ]
    assert (rescrape["remaining_failed"], rescrape["stopped"]) == (34, "max_rounds")
    exported = xcom(daily, "export_results")
    folder = Path(exported["destination"].removeprefix("file://"))
    assert folder.parent.parent == export_root / "daily"
    assert folder.name == f"run={scrape['run_id']}"
    assert (exported["jobs"], exported["successful"]) == (300, 266)
    assert [r["successful"] for r in exported["rounds"]] == [254, 0, 12]
    manifest = [json.loads(line) for line in (folder / "_manifest.jsonl").read_text().splitlines()]
    assert len(manifest) == 300
    assert json.loads((folder / "_SUCCESS.json").read_text())["run_id"] == scrape["run_id"]
    assert asset_extra("scrapingpros_daily_products") == exported

    downstream = run_dag("example_scrapingpros_downstream")
    assert task_states(downstream) == {"report": "success"}
    report = xcom(downstream, "report")
    assert report["run_id"] == scrape["run_id"]
    assert (report["jobs"], report["success_rate"]) == (300, round(266 / 300, 4))
    assert report["failures_by_reason"] == {"http_404": 20, "failed": 8, "timeout": 6}


def asset_extra(name: str) -> dict[str, Any]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        event = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.name == name)
            .order_by(AssetEvent.id.desc())
            .first()
        )
        assert event is not None
        return dict(event.extra)


def test_fan_out_maps_one_collection_per_site(sp_conn: SandboxControl, export_root: Path, xcom: Any) -> None:
    sp_conn.set_rules(RULES)
    dag_run = run_dag("example_scrapingpros_fan_out")
    states = [(ti.task_id, ti.map_index, str(ti.state)) for ti in dag_run.get_task_instances()]
    assert sorted(states) == sorted(
        (task, i, "success") for task in ("upsert_collection", "scrape", "export_results") for i in range(3)
    )
    assert sp_conn.stats()["collections"] == 3
    assert sp_conn.count("POST /v1/async/collections/{cid}/run") == 3
    exports = sorted(export_root.glob("fan-out/*/run=*/_SUCCESS.json"))
    assert len(exports) == 3
    for marker in exports:
        done = json.loads(marker.read_text())
        assert (done["jobs"], done["successful"]) == (20, 18)


def test_sensor_example_exports_a_run_started_outside_airflow(
    sp_conn: SandboxControl, sandbox: Sandbox, export_root: Path, xcom: Any
) -> None:
    headers = {"Authorization": f"Bearer {DEV_TOKEN}"}
    body = {
        "name": "external",
        "requests": [{"url": f"https://news.example.com/{i}?sp_latency_ms=20000"} for i in range(12)],
    }
    cid = requests.post(
        f"{sandbox.base_url}/v1/async/collections", json=body, headers=headers, timeout=10
    ).json()["id"]
    rid = requests.post(
        f"{sandbox.base_url}/v1/async/collections/{cid}/run", headers=headers, timeout=10
    ).json()["run_id"]
    dag_run = run_dag("example_scrapingpros_sensor", {"collection_id": cid, "run_id": rid})
    assert task_states(dag_run) == {"wait_for_run": "success", "export_jsonl": "success"}
    assert xcom(dag_run, "wait_for_run")["success_requests"] == 12
    exported = xcom(dag_run, "export_jsonl")
    assert (exported["layout"], exported["jobs"], exported["exported"]) == ("jsonl", 12, 12)
    folder = export_root / "external" / f"run={rid}"
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("_")) == [
        "_SUCCESS.json",
        "_manifest.jsonl",
    ]
    assert any(p.name.endswith(".jsonl.gz") for p in folder.rglob("*"))


def test_sync_scrape_example_returns_extracted_fields(sp_conn: SandboxControl, xcom: Any) -> None:
    dag_run = run_dag("example_scrapingpros_sync_scrape")
    assert task_states(dag_run) == {"scrape_product": "success", "use_fields": "success"}
    scraped = xcom(dag_run, "scrape_product")
    assert (scraped["status_code"], scraped["success"], scraped["credits_charged"]) == (200, True, 1)
    assert sorted(scraped["extracted_data"]) == ["price", "title"]
    assert xcom(dag_run, "use_fields") == {"url": scraped["url"], **scraped["extracted_data"]}
    assert sp_conn.count("POST /v1/sync/scrape") == 1
