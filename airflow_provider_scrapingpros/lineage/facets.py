"""The OpenLineage objects: datasets and our custom run facets. The one module here that imports
OpenLineage; only the lineage methods import it, when the OpenLineage provider calls them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attr
from airflow.providers.openlineage.extractors import OperatorLineage
from openlineage.client.event_v2 import InputDataset, OutputDataset
from openlineage.client.facet_v2 import RunFacet, output_statistics_output_dataset

from .naming import Dataset

# Where the facets' fields are described (a custom facet's `_schemaURL` must point somewhere).
SCHEMA_URL = "https://pypi.org/project/airflow-provider-scrapingpros/#lineage-openlineage"
RUN_FACET = "scrapingpros_run"
RUNS_FACET = "scrapingpros_runs"
SCRAPE_FACET = "scrapingpros_scrape"
RUN_COUNTERS = ("total_requests", "success_requests", "failed_requests", "timeout_requests")
EXPORT_FIGURES = ("layout", "jobs", "exported", "failed", "expired", "lost", "successful", "objects", "bytes")


@attr.define
class ScrapingProsRunFacet(RunFacet):
    """One ScrapingPros run as the task saw it. Unknown values are None (dropped from the JSON)."""

    collection_id: str
    run_id: str | None = None
    status: str | None = None
    outcome: str | None = None
    counters: dict[str, int] | None = None
    success_criterion_version: str | None = None
    estimated_credits: float | None = None
    credits_used: float | None = None
    run_url: str | None = None
    export: dict[str, Any] | None = None

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_URL


@attr.define
class ScrapingProsRunsFacet(RunFacet):
    """An export of several runs (a DAG run triggered by several Asset events): one entry per run."""

    runs: list[ScrapingProsRunFacet]

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_URL


@attr.define
class ScrapingProsScrapeFacet(RunFacet):
    url: str
    status_code: int | None = None
    success: bool | None = None
    error_type: str | None = None
    credits_charged: float | None = None

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_URL


def inputs(datasets: Iterable[Dataset]) -> list[InputDataset]:
    return [InputDataset(namespace=ns, name=name) for ns, name in _unique(datasets)]


def output(dataset: Dataset, *, rows: int | None = None, size: int | None = None) -> OutputDataset:
    facets: dict[str, Any] = {}
    if rows is not None or size is not None:
        facets["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=rows, size=size
        )
    return OutputDataset(namespace=dataset[0], name=dataset[1], outputFacets=facets)


def run_facet(result: Mapping[str, Any], collection_id: str, run_id: str | None) -> ScrapingProsRunFacet:
    """From the run operator's XCom dict or the export's summary; keys missing there stay None."""
    counters = {k: int(result[k]) for k in RUN_COUNTERS if isinstance(result.get(k), int)}
    criterion = result.get("success_criterion_version", result.get("success_criterion"))
    if isinstance(criterion, Mapping):
        criterion = criterion.get("version")
    export = {k: result[k] for k in EXPORT_FIGURES if k in result} if "exported" in result else None
    # the run operator has the credit figures at the top level, the export summary under "credits"
    nested = result.get("credits")
    credits: Mapping[str, Any] = nested if isinstance(nested, Mapping) else result
    return ScrapingProsRunFacet(
        collection_id=str(result.get("collection_id") or collection_id),
        run_id=_str(result.get("run_id") or run_id),
        status=_str(result.get("status", result.get("run_status"))),
        outcome=_str(result.get("outcome")),
        counters=counters or None,
        success_criterion_version=_str(criterion),
        estimated_credits=_number(credits.get("estimated_credits")),
        credits_used=_number(credits.get("credits_used")),
        run_url=_str(result.get("run_url")),
        export=export,
    )


def lineage(
    *,
    inputs: list[InputDataset] | None = None,
    outputs: list[OutputDataset] | None = None,
    run_facets: Mapping[str, RunFacet] | None = None,
) -> OperatorLineage[Any, Any]:
    return OperatorLineage(inputs=inputs or [], outputs=outputs or [], run_facets=dict(run_facets or {}))


def _unique(datasets: Iterable[Dataset]) -> list[Dataset]:
    return list(dict.fromkeys(datasets))


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any) -> float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None
