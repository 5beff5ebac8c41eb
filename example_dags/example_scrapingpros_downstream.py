"""Downstream of the daily export: starts when `scrapingpros_daily_products` is updated, trusts the
folder only once `_SUCCESS.json` is there, and reports the success rate and failures by reason from
`_manifest.jsonl` — streaming it line by line, so a 100,000-job manifest costs no memory.

It reads the *latest* event of the asset through `inlet_events`, so a manual run (or a backfill)
reports on the newest export just as an asset-triggered run does."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Asset, ObjectStoragePath, task

DAILY_EXPORT = Asset("scrapingpros_daily_products")


def failure_reason(line: dict[str, Any]) -> str:
    if line.get("block_reason") not in (None, "none"):
        return f"blocked: {line['block_reason']}"
    if line.get("status_code") and not 200 <= line["status_code"] < 300:
        return f"http_{line['status_code']}"
    return str(line.get("status") or line.get("state"))


@task(inlets=[DAILY_EXPORT])
def report(inlet_events: Any = None) -> dict[str, Any]:
    event = inlet_events[DAILY_EXPORT][-1]
    marker = ObjectStoragePath(event.extra["success_marker"])
    done = json.loads(marker.read_text())  # written last by the export: the folder is complete
    states: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    with ObjectStoragePath(event.extra["manifest"]).open("r") as manifest:
        for raw in manifest:
            line = json.loads(raw)
            states[line["state"]] += 1
            if not line.get("is_success"):
                reasons[failure_reason(line)] += 1
    jobs = sum(states.values())
    successes = jobs - sum(reasons.values())
    summary = {
        "run_id": done["run_id"],
        "jobs": jobs,
        "success_rate": round(successes / jobs, 4) if jobs else 0.0,
        "states": dict(sorted(states.items())),
        "failures_by_reason": dict(reasons.most_common()),
    }
    print(json.dumps(summary, indent=2))
    return summary


with DAG(
    dag_id="example_scrapingpros_downstream",
    schedule=[DAILY_EXPORT],
    start_date=datetime(2026, 11, 1),
    catchup=False,
    tags=["scrapingpros", "example"],
    doc_md=__doc__,
):
    report()
