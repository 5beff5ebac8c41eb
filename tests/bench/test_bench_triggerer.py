"""bench/triggerer.py at a tiny size: 10 triggers in their own process, one 1-second wave of jobs.
Each trigger polls once at start (in progress) and once 2 s later (completed): exactly 20 requests."""

from __future__ import annotations

from pathlib import Path

from bench.triggerer import debug_rows, rows, run


def test_triggerer_tiny(tmp_path: Path) -> None:
    result = run(
        triggers=10,
        jobs_per_run=2,
        concurrency=20,
        latency_ms=1000,
        idle_s=0.2,
        log=tmp_path / "t.log",
        object_batch=10,
    )
    assert result["events"] == {"success": 10}
    api = result["api"]
    assert (api["requests"], api["run_polls"], api["answered_429"], api["other_errors"]) == (20, 20, 0, 0)
    assert sum(api["per_window"]) == 20 and api["peak_per_minute"] == max(api["per_window"])
    assert result["runs_done_s"]["last"] < 2.0  # finished between the two polls
    assert result["loop"]["probes"] > 0 and result["loop"]["idle_max_lag_ms"] >= 0
    assert result["rss_mb"]["peak"] >= result["rss_mb"]["before_triggers"] > 0
    assert result["trigger_log"] == {"warnings": 0, "retries": 0, "samples": []}
    stall, rss, objects, rate = rows(result)
    assert (stall.unit, stall.target, rss.target) == ("ms", "< 50 ms", "< 250 MB")
    # a waiting trigger keeps its task, coroutines, hook, watcher, loggers: tens of objects
    per_trigger = result["gc"]["tracked_objects_per_waiting_trigger"]
    assert (objects.ours, objects.passed) == (per_trigger, None) and 20 < per_trigger < 200
    assert (rate.ours, rate.reference, rate.passed) == (api["peak_per_minute"], 2000, True)
    [slow] = debug_rows(result)
    assert slow.ours == result["slow_callbacks"]["count"]
