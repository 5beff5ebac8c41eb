"""The runs a DAG run was triggered for: read from `triggering_asset_events`, whichever way they came.

A DAG scheduled on a collection's Asset (`assets.collection_asset`) is triggered by Asset events the
watcher or the webhook plugin recorded, each announcing one finished run (runs/completion.py). The
scheduler may fold several events into one DAG run when runs end close together, so this returns
every announced run, once each, oldest first — a task that took only the first would lose the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..exceptions import ScrapingProsInputError
from ..runs.completion import RunCompleted, api_host, parse_collection_uri, read_completion


def triggering_runs(context: Mapping[str, Any], base_url: str) -> list[RunCompleted]:
    """Every run the triggering Asset events announce, on the API at `base_url`."""
    found: dict[str, RunCompleted] = {}
    expected_host = api_host(base_url)
    for events in _event_lists(context.get("triggering_asset_events")):
        for event in events:
            run = read_completion(getattr(event, "extra", None))
            if run is None:
                continue
            host, _ = parse_collection_uri(event.asset.uri)
            if host != expected_host:
                raise ScrapingProsInputError(
                    f"The triggering Asset event of run {run.run_id} is for the API at {host}, but the "
                    f"task's connection points at {expected_host}: nothing was exported. Use the "
                    "connection of that API (scrapingpros_conn_id) or schedule on the right Asset.",
                    errors=[("scrapingpros_conn_id", "points at another API than the Asset")],
                )
            found.setdefault(run.run_id, run)
    if not found:
        raise ScrapingProsInputError(
            "collection_id and run_id are not set and no triggering Asset event announces a "
            "ScrapingPros run. Schedule the DAG on collection_asset(...) (watcher or webhook), or pass "
            "collection_id and run_id.",
            errors=[("run_id", "not set and not in triggering_asset_events")],
        )
    return sorted(found.values(), key=lambda run: (run.completed_at, run.run_id))


def destination_for(template: str, collection_id: str, run_id: str) -> str:
    """`{collection_id}` and `{run_id}` in a destination become the run's ids (other braces stay)."""
    return template.replace("{collection_id}", collection_id).replace("{run_id}", run_id)


def check_one_destination_per_run(template: str, runs: list[RunCompleted]) -> None:
    """Two runs into one destination would be refused by the export's claim after the first; say
    so before any API call."""
    if len(runs) > 1 and "{run_id}" not in template:
        ids = ", ".join(run.run_id for run in runs)
        raise ScrapingProsInputError(
            f"This DAG run was triggered by {len(runs)} finished runs ({ids}) and destination "
            f"{template!r} has no {{run_id}}: they would go to one folder. Put {{run_id}} in the "
            "destination, e.g. 's3://lake/scrapes/{run_id}/'.",
            errors=[("destination", "needs {run_id} when several runs trigger one DAG run")],
        )


def _event_lists(accessor: Any) -> Iterable[Iterable[Any]]:
    if accessor is None:
        return ()
    return list(accessor.values())
