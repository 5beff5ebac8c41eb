"""Runs and URLs for the sans-IO run-policy tests."""

from __future__ import annotations

from typing import Any

from airflow_provider_scrapingpros.client.models import Run


def run(status: str = "in_progress", total: int = 10, ok: int = 0, failed: int = 0, **extra: Any) -> Run:
    return Run.model_validate(
        {
            "run_id": "r1",
            "collection_id": "c1",
            "status": status,
            "total_requests": total,
            "success_requests": ok,
            "failed_requests": failed,
            "timeout_requests": 0,
            "job_ids": [f"j{i}" for i in range(total)],
            **extra,
        }
    )


def url_for(cid: str, rid: str) -> str:
    return f"http://api/v1/async/collections/{cid}/runs/{rid}"
