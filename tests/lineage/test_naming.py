"""Dataset names (lineage/naming.py) and the facets the operators build without a DAG run: the multi-run
export, a task that failed before knowing its run, and hook lineage on an Airflow without a collector."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from airflow_provider_scrapingpros.lineage import hook as hook_lineage
from airflow_provider_scrapingpros.lineage import naming
from airflow_provider_scrapingpros.lineage.convert import to_openlineage
from airflow_provider_scrapingpros.operators.export import ScrapingProsExportResultsOperator
from airflow_provider_scrapingpros.operators.run import ScrapingProsRunCollectionOperator

API = "https://api.scrapingpros.com"


@pytest.mark.parametrize(
    ("base_url", "namespace"),
    [
        ("https://api.scrapingpros.com", "https://api.scrapingpros.com"),
        ("https://API.ScrapingPros.com:443/", "https://api.scrapingpros.com"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://localhost:80/v1", "http://localhost"),
    ],
)
def test_api_namespace(base_url: str, namespace: str) -> None:
    assert naming.api_namespace(base_url) == namespace


def test_collection_and_run_names_follow_the_asset_uri() -> None:
    assert naming.collection_dataset(API, "c 1") == (API, "collections/c%201")
    assert naming.run_dataset(API, "c1", "r1") == (API, "collections/c1/runs/r1")


@pytest.mark.parametrize(
    ("uri", "dataset"),
    [
        ("s3://bucket/scrapes/2026-01-01/", ("s3://bucket", "scrapes/2026-01-01")),
        ("s3://bucket", ("s3://bucket", "/")),
        ("gs://b/a/b.jsonl", ("gs://b", "a/b.jsonl")),
        ("file:///data/exports/run-1/", ("file", "/data/exports/run-1")),
        ("file://localhost/data/x", ("file", "/data/x")),
        ("/data/page.html", ("file", "/data/page.html")),
        (
            "abfss://container@account.dfs.core.windows.net/x/y",
            ("abfss://container@account.dfs.core.windows.net", "x/y"),
        ),
    ],
)
def test_storage_dataset(uri: str, dataset: tuple[str, str]) -> None:
    assert naming.storage_dataset(uri) == dataset


def test_url_dataset_leaves_the_query_out() -> None:
    assert naming.url_dataset("https://Shop.Example.com:8443/p/1?token=s3cret#top") == (
        "https://shop.example.com:8443",
        "/p/1",
    )
    assert naming.url_dataset("https://example.com") == ("https://example.com", "/")


class _Asset:
    def __init__(self, uri: str, extra: dict[str, Any]) -> None:
        self.uri, self.extra = uri, extra


def test_hook_assets_convert_to_the_operators_datasets() -> None:
    run = to_openlineage(
        _Asset(
            "scrapingpros://127.0.0.1:8000/collections/c1", {"api": "http://127.0.0.1:8000", "run_id": "r1"}
        ),
        None,
    )
    assert (run.namespace, run.name) == ("http://127.0.0.1:8000", "collections/c1/runs/r1")
    collection = to_openlineage(_Asset("scrapingpros://api.scrapingpros.com/collections/c1", {}), None)
    assert (collection.namespace, collection.name) == (API, "collections/c1")


class _Hook:
    base_url = API


def _names(items: list[Any]) -> list[tuple[str, str]]:
    return [(d.namespace, d.name) for d in items]


def _summary(cid: str, rid: str, exported: int, size: int) -> dict[str, Any]:
    return {
        "destination": f"s3://b/x/{rid}",
        "collection_id": cid,
        "run_id": rid,
        "run_status": "completed",
        "layout": "files",
        "jobs": exported,
        "exported": exported,
        "bytes": size,
    }


def test_export_of_several_triggering_runs() -> None:
    op = ScrapingProsExportResultsOperator(task_id="export", destination="s3://b/x/{run_id}/")
    op.__dict__["hook"] = _Hook()  # the cached hook property: no connection needed
    op._lineage_result = {"exports": [_summary("c1", "r1", 3, 30), _summary("c1", "r2", 5, 50)]}
    lineage = op.get_openlineage_facets_on_complete(None)
    assert _names(lineage.inputs) == [
        (API, "collections/c1"),
        (API, "collections/c1/runs/r1"),
        (API, "collections/c1/runs/r2"),
    ]
    assert _names(lineage.outputs) == [("s3://b", "x/r1"), ("s3://b", "x/r2")]
    assert [o.outputFacets["outputStatistics"].rowCount for o in lineage.outputs] == [3, 5]
    assert [o.outputFacets["outputStatistics"].size for o in lineage.outputs] == [30, 50]
    assert list(lineage.run_facets) == ["scrapingpros_runs"]
    assert [r.run_id for r in lineage.run_facets["scrapingpros_runs"].runs] == ["r1", "r2"]
    # scheduled on an Asset, before the events are read: nothing is known yet, nothing is claimed
    assert _names(op.get_openlineage_facets_on_start().outputs) == []


def test_run_that_failed_before_it_started() -> None:
    op = ScrapingProsRunCollectionOperator(task_id="run", collection_id="c1")
    op.__dict__["hook"] = _Hook()
    lineage = op.get_openlineage_facets_on_failure(None)
    assert (_names(lineage.inputs), _names(lineage.outputs)) == ([(API, "collections/c1")], [])
    facet = lineage.run_facets["scrapingpros_run"]
    assert (facet.collection_id, facet.run_id, facet.outcome) == ("c1", None, None)


def test_run_facet_reads_the_optional_figures() -> None:
    op = ScrapingProsRunCollectionOperator(task_id="run", collection_id="c1")
    op.__dict__["hook"] = _Hook()
    op._lineage_result = {
        "collection_id": "c1",
        "run_id": "r1",
        "status": "completed",
        "total_requests": 2,
        "success_requests": 2,
        "failed_requests": 0,
        "timeout_requests": 0,
        "outcome": "success",
        "run_url": f"{API}/v1/async/collections/c1/runs/r1",
        "success_criterion": {"version": "2025-06", "rules": []},
        "estimated_credits": 2,
        "credits_used": 2,
    }
    facet = op.get_openlineage_facets_on_complete(None).run_facets["scrapingpros_run"]
    assert (facet.success_criterion_version, facet.estimated_credits, facet.credits_used) == ("2025-06", 2, 2)
    assert facet.counters == {
        "total_requests": 2,
        "success_requests": 2,
        "failed_requests": 0,
        "timeout_requests": 0,
    }


def test_hook_lineage_without_a_collector_logs_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import builtins

    real_import = builtins.__import__

    def no_collector(name: str, *args: Any, **kwargs: Any) -> Any:
        if name in ("airflow.sdk.lineage", "airflow.lineage.hook"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_collector)
    monkeypatch.setattr(hook_lineage, "_unavailable_logged", False)
    with caplog.at_level(logging.INFO, logger=hook_lineage.__name__):
        hook_lineage.report_input(_Hook(), "c1", "r1")
        hook_lineage.report_input(_Hook(), "c2")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "ScrapingPros hook lineage is not collected: this Airflow has no get_hook_lineage_collector. "
        "Task-level OpenLineage is unaffected."
    ]


def test_post_execute_argument_still_runs() -> None:
    seen: list[Any] = []
    op = ScrapingProsRunCollectionOperator(
        task_id="run", collection_id="c1", post_execute=lambda context, result: seen.append(result)
    )
    op._post_execute_hook({"task": op}, {"run_id": "r1"})
    assert seen == [{"run_id": "r1"}] and op._lineage_result == {"run_id": "r1"}
