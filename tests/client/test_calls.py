"""The retry loop's run look-up after an ambiguous POST …/run (client/calls.py)."""

from __future__ import annotations

from airflow_provider_scrapingpros.client.models import Run


def _run(run_id: str, created_at: float) -> Run:
    return Run(run_id=run_id, collection_id="c", status="in_progress", created_at=created_at)


def test_run_lookup_prefers_the_first_run_after_the_attempt_and_skips_claimed_ones() -> None:
    from airflow_provider_scrapingpros.client.calls import CLAIMED_RUNS, pick_new_run

    started = 1000.0
    older, margin, ours, later = (
        _run("u-old", 990.0),
        _run("u-margin", 999.5),
        _run("u-ours", 1000.2),
        _run("u-l", 1001),
    )
    assert pick_new_run([later, ours, margin, older], started) is ours
    assert pick_new_run([margin, older], started) is margin  # inside the Date header's resolution
    assert pick_new_run([older], started) is None
    CLAIMED_RUNS.claim(ours)
    assert pick_new_run([ours, margin], started) is margin
    CLAIMED_RUNS.claim(margin)
    assert pick_new_run([ours, margin, older], started) is None
