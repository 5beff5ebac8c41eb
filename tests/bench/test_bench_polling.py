"""bench/polling.py at a tiny size: one 4-job run per client; counts come from the request log and
follow from the timing the shape sets (1.5 s runs, 2 s SDK interval), not from the wall clock."""

from __future__ import annotations

from bench.polling import Shape, rows, run


def test_polling_tiny() -> None:
    result = run((Shape(jobs=4, concurrency=4, latency_ms=1500),))
    [shape] = result["shapes"]
    sdk, ours = shape["sdk"], shape["ours"]
    assert (shape["jobs"], shape["sdk_interval_s"], shape["expected_duration_s"]) == (4, 2.0, 1.5)
    assert (sdk["status"], ours["status"], ours["event"]) == ("completed", "completed", "success")
    # SDK: GET at once (in progress), GET 2 s later (completed).
    assert (sdk["polls"], sdk["statuses"]) == (2, [200])
    # Ours: the operator's check before deferring, then the trigger's own polls (2 today; 1 once the
    # trigger stops re-polling right after that check).
    assert ours["polls"] == ours["trigger_polls"] + 1 and ours["trigger_polls"] in (1, 2)
    assert ours["statuses"] == [200]
    for side in (sdk, ours):
        assert 0 < side["lag_s"] <= 2.0 + 1.0  # one interval plus generous scheduling slack
    polls, lag = rows(result)
    assert (polls.metric, polls.ours, polls.reference) == (
        "polling 4 jobs: run-status requests",
        ours["polls"],
        2,
    )
    assert polls.passed is (ours["polls"] <= 2)
    assert (lag.metric, lag.unit, lag.target) == (
        "polling 4 jobs: detection lag",
        "s",
        "≤ 2 s (1 SDK interval)",
    )
