"""The lineage of each operator: which collection, run, page and storage location it read or wrote.

Datasets (naming.py): the API's `scheme://host` namespace with `collections/<id>` and
`collections/<id>/runs/<run id>`; storage under the OpenLineage naming spec. Create/update write the
collection; the run operator reads the collection and writes the run; the export reads both and
writes the destination (rowCount = exported jobs, size = bytes); the sync scrape reads the page and
writes `destination` when given. On failure the same datasets go out as far as they are known (the
provider adds the error message itself).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import naming
from .mixin import LineageMixin

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage as _OperatorLineage

    OperatorLineage = _OperatorLineage[Any, Any]

_FILE_SUFFIXES = (".json", ".jsonl", ".csv")


class CollectionLineageMixin(LineageMixin):
    """Create/update: the collection is the output; a requests file, when one was read, the input."""

    requests: Any

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        return self._collection_lineage(self._lineage_result or getattr(self, "collection_id", None))

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage:
        return self._collection_lineage(getattr(self, "collection_id", None))

    def _collection_lineage(self, collection_id: str | None) -> OperatorLineage:
        from .facets import inputs, lineage, output

        files = [self.requests] if isinstance(self.requests, str) else []
        read = [naming.storage_dataset(f) for f in files if f.strip().lower().endswith(_FILE_SUFFIXES)]
        if not collection_id:
            return lineage(inputs=inputs(read))
        written = output(naming.collection_dataset(self._api_base_url(), str(collection_id)))
        return lineage(inputs=inputs(read), outputs=[written])


class RunLineageMixin(LineageMixin):
    """Run: the collection in, the run out (so an export's input run has its producer)."""

    collection_id: str
    _run_id: str | None

    def get_openlineage_facets_on_start(self) -> OperatorLineage:
        from .facets import inputs, lineage

        return lineage(inputs=inputs([naming.collection_dataset(self._api_base_url(), self.collection_id)]))

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        result = self._lineage_result if isinstance(self._lineage_result, Mapping) else {}
        return self._run_lineage(result, result.get("run_id") or self._run_id)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage:
        return self._run_lineage({}, self._run_id)

    def _run_lineage(self, result: Mapping[str, Any], run_id: str | None) -> OperatorLineage:
        from .facets import RUN_FACET, inputs, lineage, output, run_facet

        base_url = self._api_base_url()
        read = inputs([naming.collection_dataset(base_url, self.collection_id)])
        written = [output(naming.run_dataset(base_url, self.collection_id, run_id))] if run_id else []
        facet = run_facet(result, self.collection_id, run_id)
        return lineage(inputs=read, outputs=written, run_facets={RUN_FACET: facet})


class ScrapeLineageMixin(LineageMixin):
    """Sync scrape: the page (`scheme://host` + path, no query) in, `destination` out when given."""

    request: Any
    destination: str | None

    def get_openlineage_facets_on_start(self) -> OperatorLineage:
        return self._scrape_lineage({}, with_output=False)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        result = self._lineage_result if isinstance(self._lineage_result, Mapping) else {}
        return self._scrape_lineage(result, with_output=True)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage:
        return self._scrape_lineage({}, with_output=False)

    def _scrape_lineage(self, result: Mapping[str, Any], *, with_output: bool) -> OperatorLineage:
        from .facets import SCRAPE_FACET, ScrapingProsScrapeFacet, inputs, lineage, output

        url = result.get("url") or _request_url(self.request)
        if not url:
            return lineage()
        stored = result.get("object_uri") if with_output else None
        facet = ScrapingProsScrapeFacet(
            url=str(url),
            status_code=result.get("status_code"),
            success=result.get("success"),
            error_type=result.get("error_type"),
            credits_charged=result.get("credits_charged"),
        )
        return lineage(
            inputs=inputs([naming.url_dataset(str(url))]),
            outputs=[output(naming.storage_dataset(str(stored)))] if stored else [],
            run_facets={SCRAPE_FACET: facet},
        )


class ExportLineageMixin(LineageMixin):
    """Export: the collection and the run in, the destination folder out with its statistics."""

    collection_id: str | None
    run_id: str | None
    destination: str

    def get_openlineage_facets_on_start(self) -> OperatorLineage:
        return self._planned_lineage()

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        from .facets import RUN_FACET, RUNS_FACET, ScrapingProsRunsFacet, inputs, lineage, output, run_facet

        result = self._lineage_result
        if not isinstance(result, Mapping):
            return self._planned_lineage()
        summaries: list[Mapping[str, Any]] = list(result["exports"]) if "exports" in result else [result]
        base_url = self._api_base_url()
        read, written, facets = [], [], []
        for summary in summaries:
            cid, rid = str(summary["collection_id"]), str(summary["run_id"])
            read += [naming.collection_dataset(base_url, cid), naming.run_dataset(base_url, cid, rid)]
            where = naming.storage_dataset(str(summary["destination"]))
            written.append(output(where, rows=summary.get("exported"), size=summary.get("bytes")))
            facets.append(run_facet(summary, cid, rid))
        run_facets: dict[str, Any] = (
            {RUN_FACET: facets[0]} if len(facets) == 1 else {RUNS_FACET: ScrapingProsRunsFacet(runs=facets)}
        )
        return lineage(inputs=inputs(read), outputs=written, run_facets=run_facets)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage:
        return self._planned_lineage()

    def _planned_lineage(self) -> OperatorLineage:
        """Before (or without) a summary: the run named by the task's arguments, if any. A task
        scheduled on a collection's Asset knows its runs only once it has read the Asset events."""
        from ..tasks.triggering_runs import destination_for
        from .facets import RUN_FACET, inputs, lineage, output, run_facet

        if not self.collection_id or not self.run_id:
            return lineage()
        base_url = self._api_base_url()
        cid, rid = self.collection_id, self.run_id
        read = [naming.collection_dataset(base_url, cid), naming.run_dataset(base_url, cid, rid)]
        where = naming.storage_dataset(destination_for(str(self.destination), cid, rid))
        return lineage(
            inputs=inputs(read), outputs=[output(where)], run_facets={RUN_FACET: run_facet({}, cid, rid)}
        )


def _request_url(request: Any) -> str | None:
    if isinstance(request, str):
        return request
    if isinstance(request, Mapping):
        url = request.get("url")
        return str(url) if url else None
    url = getattr(request, "url", None)
    return str(url) if url else None
