"""What a finished run means (runs/verdict.py): success only when every job succeeded, and a run
whose counters do not add up is never called a success."""

from __future__ import annotations

import pytest

from airflow_provider_scrapingpros.exceptions import ScrapingProsResponseError
from airflow_provider_scrapingpros.runs.verdict import RunSnapshot, enforce, run_outcome


def snapshot(
    status: str = "completed", total: int = 10, ok: int = 10, failed: int = 0, t: int = 0
) -> RunSnapshot:
    return RunSnapshot(
        collection_id="c",
        run_id="r",
        status=status,
        total_requests=total,
        success_requests=ok,
        failed_requests=failed,
        timeout_requests=t,
    )


@pytest.mark.parametrize(
    ("run", "outcome"),
    [
        (snapshot(), "success"),
        (snapshot(ok=9, failed=1), "partial"),
        (snapshot(ok=0, failed=9, t=1), "failed"),
        (snapshot("failed", ok=10), "failed"),
        (snapshot("cancelled", ok=3), "failed"),
        (snapshot(total=19, ok=9), "partial"),  # 10 jobs unaccounted for: not every job succeeded
        (snapshot(total=19, ok=0), "failed"),
    ],
)
def test_outcome_is_success_only_when_every_job_succeeded(run: RunSnapshot, outcome: str) -> None:
    assert run_outcome(run) == outcome


def test_a_completed_run_whose_counters_do_not_add_up_fails_closed() -> None:
    with pytest.raises(ScrapingProsResponseError) as err:
        enforce(snapshot(total=19, ok=9), "http://api/run", max_failed_ratio=None)
    assert str(err.value) == (
        "Run r ended 'completed' but its counters do not add up: 9 success + 0 failed + 0 timeout "
        "of 19 requests. The API answered inconsistently; refusing to call this run a success. "
        "Look at the run at http://api/run, and export it to see each job."
    )
    assert enforce(snapshot(), "http://api/run", max_failed_ratio=None).outcome == "success"
