"""Hook-level lineage: the collection or run a `ScrapingProsHook` call reads or writes, reported to
Airflow's hook lineage collector, so a `@task` that uses the hook directly gets datasets too.

The OpenLineage provider reads the collector only for tasks whose operator reported no datasets of
its own, so our operators' events are not doubled. Export destinations are not reported here:
`ObjectStoragePath` reports them itself.

Each hook reports a dataset once (an export fetches thousands of results of one run), only from the
sync methods (the async ones run in the triggerer, where no task collects lineage), and never fails a
call: a collector that is missing or has another signature is logged once and skipped.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

log = logging.getLogger(__name__)
_SEEN_ATTR = "_scrapingpros_lineage_seen"
_unavailable_logged = False


def report_input(hook: Any, collection_id: str, run_id: str | None = None) -> None:
    _report(hook, "input", collection_id, run_id)


def report_output(hook: Any, collection_id: str, run_id: str | None = None) -> None:
    _report(hook, "output", collection_id, run_id)


def _report(hook: Any, direction: Literal["input", "output"], collection_id: str, run_id: str | None) -> None:
    seen: set[tuple[str, str, str | None]] = hook.__dict__.setdefault(_SEEN_ATTR, set())
    key = (direction, collection_id, run_id)
    if key in seen:
        return
    seen.add(key)
    collector = _collector()
    if collector is None:
        return
    try:
        from ..runs.completion import collection_uri

        base_url = hook.base_url
        extra: dict[str, Any] = {"api": base_url}
        if run_id:
            extra["run_id"] = run_id
        add = collector.add_input_asset if direction == "input" else collector.add_output_asset
        add(context=hook, uri=collection_uri(base_url, collection_id), asset_extra=extra)
    except Exception as exc:  # lineage must never fail an API call
        _unavailable(f"reporting it failed ({type(exc).__name__}: {exc})")


def _collector() -> Any:
    try:
        from airflow.sdk.lineage import get_hook_lineage_collector  # Airflow >= 3.2
    except ImportError:
        try:
            from airflow.lineage.hook import (  # type: ignore[no-redef]  # Airflow 3.1
                get_hook_lineage_collector,
            )
        except ImportError:
            _unavailable("this Airflow has no get_hook_lineage_collector")
            return None
    return get_hook_lineage_collector()


def _unavailable(why: str) -> None:
    global _unavailable_logged
    if not _unavailable_logged:
        _unavailable_logged = True
        log.info("ScrapingPros hook lineage is not collected: %s. Task-level OpenLineage is unaffected.", why)
