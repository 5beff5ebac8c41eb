"""`_SUCCESS.json`: the last object an export writes and the first one a rerun reads.

It exists only once every object and `_manifest.jsonl` are stored, so its presence alone means the
destination holds a complete export; a rerun that finds it for the same run and options writes
nothing and returns the summary rebuilt from it. The "same export?" check also guards
`_export/export.json` (state.py): a destination belongs to one run exported with one set of options,
because a second one would interleave keys and manifest lines of both.

Its bytes are part of the export's output (pinned by the resume tests): keys in a fixed order,
indented, UTF-8, newline at the end.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from ..client.cost import CostEstimate
from ..client.models import Run
from .content import iso_or_none
from .errors import ExportConflictError
from .state import COUNT_NAMES, MANIFEST_KEY, Totals
from .store import ExportStore, ObjectKey

SUCCESS_KEY = "_SUCCESS.json"


def read_marker(store: ExportStore) -> dict[str, Any] | None:
    """The destination's `_SUCCESS.json`, or None while the export is not complete."""
    raw = store.read(SUCCESS_KEY)
    if raw is None:
        return None
    doc: dict[str, Any] = json.loads(raw)
    return doc


_LABELS = {"run_id": "run", "collection_id": "collection", "runs": "runs"}


def _shown(key: str, value: Any) -> str:
    if key != "runs":
        return f"{_LABELS.get(key, key)} {value}"
    if not isinstance(value, list):
        return "one run (not a merged chain)"
    return "runs " + ", ".join(str(r.get("run_id")) if isinstance(r, dict) else str(r) for r in value)


def check_same_export(store: ExportStore, where: str, doc: dict[str, Any], spec: dict[str, Any]) -> None:
    """Refuse a destination whose `where` document names another run or other options than `spec`."""
    # `runs` is only in a merged export's spec: a single-run export of its original run is not it.
    keys = [*spec, *(["runs"] if "runs" in doc and "runs" not in spec else [])]
    differs = [k for k in keys if doc.get(k) != spec.get(k)]
    if differs:
        # Only what differs: printing both options dicts when only the run differed hid the point.
        theirs = ", ".join(_shown(k, doc.get(k)) for k in differs)
        ours = f" with {spec['options']}" if "options" in differs else ""
        what = (
            _shown("runs", spec["runs"]) + " (a merged chain)" if "runs" in spec else f"run {spec['run_id']}"
        )
        raise ExportConflictError(
            f"{store.uri(where)} belongs to another export ({theirs}); this task exports {what}{ours}. "
            "Use one destination per run (e.g. put {{ run_id }} or the run id in the path), or delete "
            "that folder to start over."
        )


def build_marker(
    spec: dict[str, Any],
    run: Run,
    totals: Totals,
    *,
    finished_at: datetime | None,
    manifest_bytes: int,
    manifest_sha256: str,
    cost: CostEstimate | None = None,
    rounds: list[dict[str, Any]] | None = None,
    credits: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `_SUCCESS.json` document: what was exported, the run's verdict, the counts, the manifest.

    `finished_at` is the last `completed_at` exported, not the worker's clock, so a rerun or a
    resumed export writes the same bytes as a clean one. `credits` is the run's cost (docs/cost.md);
    without an estimate from upstream, the run's size bounds it. A merged export (merge.py) passes
    its per-run `rounds` and the chain's summed `credits`."""
    criterion = run.success_criterion.version if run.success_criterion else None
    created = datetime.fromtimestamp(run.created_at, timezone.utc) if run.created_at is not None else None
    return {
        **spec,
        "run_status": run.status,
        "success_criterion": criterion,
        "run_started_at": iso_or_none(created),
        "run_finished_at": iso_or_none(finished_at),
        **totals.counts(),
        **({"rounds": rounds} if rounds is not None else {}),
        "credits": credits if credits is not None else _run_credits(run, cost),
        "manifest": MANIFEST_KEY,
        "manifest_bytes": manifest_bytes,
        "manifest_sha256": manifest_sha256,
    }


def _run_credits(run: Run, cost: CostEstimate | None) -> dict[str, Any]:
    estimate = cost or CostEstimate.unknown_mix(run.collection_id, run.total_requests)
    report: dict[str, Any] = estimate.report(run.success_requests).model_dump(mode="json")
    return report


def write_marker(store: ExportStore, doc: dict[str, Any]) -> None:
    store.put(
        ObjectKey(SUCCESS_KEY, "application/json"),
        (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
    )


def marker_summary(store: ExportStore, doc: dict[str, Any]) -> dict[str, Any]:
    """The task's return value (and Asset event extra): URIs and figures, never page content."""
    return {
        "destination": store.uri(),
        "manifest": store.uri(MANIFEST_KEY),
        "success_marker": store.uri(SUCCESS_KEY),
        "collection_id": doc["collection_id"],
        "run_id": doc["run_id"],
        "run_status": doc["run_status"],
        "success_criterion": doc.get("success_criterion"),  # its version, e.g. content_success_v1
        "layout": doc["options"]["layout"],
        **{name: doc[name] for name in COUNT_NAMES},
        "credits": doc.get("credits"),  # absent from markers written by 0.2 and earlier
        **({"rounds": doc["rounds"]} if "rounds" in doc else {}),  # merged exports only
    }
