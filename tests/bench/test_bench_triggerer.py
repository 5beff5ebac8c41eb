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
    took, gc_inside = result["slow_callbacks"]["took_ms"], result["slow_callbacks"]["gc_inside_ms"]
    assert len(took) == len(gc_inside) == slow.ours


def test_a_slow_callback_names_the_gc_pause_that_ran_inside_it() -> None:
    import logging

    from bench.triggerer import _Records

    records = _Records()
    for message in ("Executing <Task one()> took 0.080 seconds", "an unrelated asyncio record"):
        records.emit(logging.LogRecord("asyncio", logging.WARNING, __file__, 1, message, None, None))
    records.at[:] = [10.0, 10.5]
    # (generation, end seconds after origin, ms): one ends inside the callback, one before it began
    pauses = [(2, 9.5, 70.0), (2, 9.99, 61.0), (0, 9.9, 1.0)]
    assert records.slow_callbacks(0.0, pauses) == {
        "count": 1,
        "samples": ["Executing <Task one()> took 0.080 seconds"],
        "took_ms": [80.0],
        "gc_inside_ms": [61.0],
    }
