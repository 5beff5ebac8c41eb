"""Where a task finds what a run of a collection can cost (docs/cost.md).

The API cannot list a collection's requests back, so the collection operators leave their estimate
in XCom under `COST_XCOM_KEY` (counts only: never a URL), and the run operator passes the one it used
on under the same key for the export downstream. A task looks, in order, at:

1. its own `estimated_credits`, if given;
2. the records of its upstream tasks for this collection id (all map indexes: a mapped create
   feeding a mapped run is matched by collection id, not by position);
3. only where an API look-up is allowed (the run operator before starting): the collection's newest
   run created since the collection last changed — it ran the same request list, so its size bounds
   the cost (5 credits a request).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..client.cost import CostEstimate

if TYPE_CHECKING:
    from ..client.models import Collection
    from ..hooks.scrapingpros import ScrapingProsHook
    from ..runs.verdict import RunResult

COST_XCOM_KEY = "scrapingpros_cost"
log = logging.getLogger(__name__)


def push_estimate(context: Any, estimate: CostEstimate) -> None:
    context["ti"].xcom_push(key=COST_XCOM_KEY, value=estimate.model_dump(mode="json"))


def push_estimates(context: Any, estimates: list[CostEstimate]) -> None:
    """Several collections' estimates from one task (the rescrape operator: the original and each round)."""
    context["ti"].xcom_push(key=COST_XCOM_KEY, value=[e.model_dump(mode="json") for e in estimates])


def upstream_estimates(context: Any, task: Any) -> dict[str, CostEstimate]:
    """Every estimate the task's upstream tasks left, by collection id (the last record of one wins)."""
    upstream = sorted(getattr(task, "upstream_task_ids", ()) or ())
    if not upstream:
        return {}
    pulled = context["ti"].xcom_pull(task_ids=upstream, key=COST_XCOM_KEY)
    found: dict[str, CostEstimate] = {}
    for value in pulled if isinstance(pulled, list) else [pulled]:
        # one record per task, or a list of them (push_estimates)
        for record in value if isinstance(value, list) else [value]:
            if not isinstance(record, dict) or not isinstance(record.get("collection_id"), str):
                continue
            try:
                found[record["collection_id"]] = CostEstimate.model_validate(record)
            except ValidationError:
                log.warning(
                    "Ignoring a malformed %s XCom record for collection %s.",
                    COST_XCOM_KEY,
                    record["collection_id"],
                )
    return found


def upstream_estimate(context: Any, task: Any, collection_id: str) -> CostEstimate | None:
    return upstream_estimates(context, task).get(collection_id)


def known_estimate(context: Any, task: Any, collection_id: str, given: int | None) -> CostEstimate | None:
    """Steps 1-2: no API call."""
    if given is not None:
        return CostEstimate.given(collection_id, given)
    return upstream_estimate(context, task, collection_id)


def estimate_from_last_run(hook: ScrapingProsHook, collection: Collection) -> CostEstimate | None:
    """Step 3: one GET …/runs. None if the collection changed after its newest run (or never ran)."""
    runs = hook.list_runs(collection.id).items  # newest first
    if not runs:
        return None
    newest = runs[0]
    changed = collection.updated_at
    if changed is not None and (newest.created_at is None or newest.created_at < changed):
        return None
    return CostEstimate.unknown_mix(collection.id, newest.total_requests)


def with_cost(context: Any, task: Any, result: RunResult, given: int | None) -> dict[str, Any]:
    """The run operator's and the sensor's result dict with the run's credits (docs/cost.md); the
    estimate is passed on in XCom for the export downstream."""
    estimate = known_estimate(context, task, result.collection_id, given)
    sized = CostEstimate.unknown_mix(result.collection_id, result.total_requests)
    if estimate is None:
        estimate = sized
    elif estimate.source == "given":
        estimate = estimate.model_copy(update={"requests": sized.requests})
    push_estimate(context, estimate)
    finished = result.outcome is not None
    report = estimate.report(result.success_requests if finished else None)
    if finished:
        used = report.credits_used
        charged = str(used) if used is not None else f"between {report.credits_used_range}"
        task.log.info("Credits: estimated %d, charged %s.", report.estimated_credits, charged)
    return {**result.model_dump(mode="json"), **report.model_dump(mode="json")}
