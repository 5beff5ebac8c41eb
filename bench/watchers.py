"""Asset watchers: what N `ScrapingProsRunCompletedTrigger`s on one connection and one collection
cost the API, with Airflow 3.3's shared stream (one poll loop for the group) and without it (each
trigger's own `run()` loop, as on Airflow 3.1/3.2 or with sharing off).

Both passes run in this process's event loop against the sandbox in its own process, one after the
other, on the same idle collection (two finished runs, none in progress, so every loop polls at
its base interval). The poll interval is scaled down (`poll_interval`, default 0.5 s instead of
60 s) to keep the run short; the figure that matters is **runs-list requests per poll interval**,
which does not depend on that scale, and it is also given per minute at the default 60 s interval
(while a run is in progress the watcher polls at a quarter of the interval, so 4x that).

The sandbox token's rate limit is switched off: this counts the demand, not what a 2,000/min
budget would let through (the client's shared rate budget then only ever sees "no limit").
The loop's longest stall comes from bench/triggerer.py's probe (a 10 ms sleep, lateness recorded),
over the whole pass: the watchers' start, their first polls and the steady state.

    python -m bench.watchers [--watchers 200] [--seconds 4] [--poll-interval 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from .harness import Api, airflow_env, sandbox_process, set_connection, urls
from .table import Row
from .triggerer import STALL_TARGET_MS, _GcTimer, _idle_probe, _probe

TOKEN = "sp_bench_watchers"
CONN_ID = "sp_bench_watchers"
LIST_RUNS = "GET /v1/async/collections/{cid}/runs"
REAL_INTERVAL_S = 60.0  # the trigger's default poll_interval


async def _drain(events: AsyncIterator[Any], seen: list[Any]) -> None:
    async for event in events:
        seen.append(event.payload)


async def _pass(
    control: Any, cid: str, *, watchers: int, poll_interval: float, seconds: float, shared: bool
) -> dict[str, Any]:
    from airflow_provider_scrapingpros.triggers.events import (
        MemoryCursorStore,
        ScrapingProsRunCompletedTrigger,
    )

    stop = asyncio.Event()
    lags: list[tuple[float, float]] = []
    origin = time.perf_counter()
    probe = asyncio.create_task(_probe(stop, origin, lags, []))
    gc_timer = _GcTimer(origin)  # to tell a collector pause from our own work in a stall
    gc.callbacks.append(gc_timer)
    triggers = []
    for _ in range(watchers):
        trigger = ScrapingProsRunCompletedTrigger(
            collection_id=cid, scrapingpros_conn_id=CONN_ID, poll_interval=poll_interval
        )
        trigger.cursor_store = MemoryCursorStore()  # the storage is not what is measured
        triggers.append(trigger)
    manager = None
    seen: list[Any] = []
    tasks = []
    if shared:
        from airflow.triggers.shared_stream import SharedStreamManager

        manager = SharedStreamManager()
    for i, trigger in enumerate(triggers):  # as the triggerer: one at a time, yielding around each
        await asyncio.sleep(0)
        if manager is not None:
            stream = manager.subscribe(trigger_id=i, trigger=trigger, key=trigger.shared_stream_key())
            events = trigger.filter_shared_stream(stream)
        else:
            events = trigger.run()
        tasks.append(asyncio.create_task(_drain(events, seen)))
    await asyncio.sleep(max(1.0, 2 * poll_interval))  # connections opened, first polls done
    before = await asyncio.to_thread(control.count, LIST_RUNS)
    started, measured_from = time.monotonic(), time.perf_counter() - origin
    await asyncio.sleep(seconds)
    requests = await asyncio.to_thread(control.count, LIST_RUNS) - before
    elapsed = time.monotonic() - started
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if manager is not None:
        await manager.stop_all()
    stop.set()
    await probe
    gc.callbacks.remove(gc_timer)
    longest_gc = sorted(gc_timer.pauses, key=lambda p: -p[2])[:3]
    per_interval = requests / (elapsed / poll_interval)
    return {
        "shared": shared,
        "requests": requests,
        "elapsed_s": round(elapsed, 3),
        "per_minute_measured": round(requests / elapsed * 60, 1),
        "per_poll_interval": round(per_interval, 2),
        "per_minute_at_60s_interval": round(per_interval * 60 / REAL_INTERVAL_S, 2),
        "events": len(seen),  # 0 expected: both runs are the baseline
        "max_lag_ms": round(max((lag for _, lag in lags), default=0.0), 2),
        "worst": [
            {"at_s": round(t, 2), "ms": round(ms, 1)} for t, ms in sorted(lags, key=lambda x: -x[1])[:3]
        ],
        "measured_from_s": round(measured_from, 2),
        "longest_gc": [{"generation": g, "at_s": round(t, 2), "ms": round(ms, 1)} for g, t, ms in longest_gc],
        "probes": len(lags),
    }


def run(watchers: int = 200, seconds: float = 6.0, poll_interval: float = 2.0) -> dict[str, Any]:
    airflow_env()
    with sandbox_process() as control:
        control.set_token(TOKEN, plan="enterprise", rate_limit_enabled=False)
        set_connection(CONN_ID, control.base_url, TOKEN)
        api = Api(control.base_url, TOKEN)
        try:
            cid = api.create_collection("watched", urls("w", 1))
            for _ in range(2):
                rid = api.start_run(cid)
                api.wait_terminal(cid, rid)
        finally:
            api.close()

        # As bench/triggerer.py's child: the heap of a started triggerer (Airflow, our runtime) is
        # frozen, so a stall measures the watchers' work, not a full collection of Airflow's heap.
        import airflow.jobs.triggerer_job_runner  # noqa: F401

        from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook  # noqa: F401
        from airflow_provider_scrapingpros.triggers.events import ScrapingProsRunCompletedTrigger  # noqa: F401

        gc.collect()
        gc.freeze()

        async def both() -> dict[str, Any]:
            idle = await _idle_probe(1.0)
            result: dict[str, Any] = {"idle_max_lag_ms": idle}
            result["unshared"] = await _pass(
                control, cid, watchers=watchers, poll_interval=poll_interval, seconds=seconds, shared=False
            )
            try:
                import airflow.triggers.shared_stream  # noqa: F401
            except ImportError:  # Airflow < 3.3: no shared streams
                result["shared"] = None
            else:
                result["shared"] = await _pass(
                    control, cid, watchers=watchers, poll_interval=poll_interval, seconds=seconds, shared=True
                )
            return result

        try:
            result = asyncio.run(both())
        finally:
            gc.unfreeze()
    return {"watchers": watchers, "poll_interval_s": poll_interval, "seconds": seconds, **result}


def rows(result: dict[str, Any]) -> list[Row]:
    n = result["watchers"]
    unshared, shared = result["unshared"], result["shared"]
    out = [
        Row(
            f"watchers, {n:,} on one collection: runs-list requests per interval, shared vs own loops",
            None if shared is None else shared["per_poll_interval"],
            unshared["per_poll_interval"],
            unit="/interval",
            target="≤ 1.5 (one loop)",
            passed=None if shared is None else shared["per_poll_interval"] <= 1.5,
            note="" if shared is not None else "Airflow < 3.3: no shared stream",
        )
    ]
    if shared is not None:
        out.append(
            Row(
                f"watchers, {n:,} (shared stream): longest loop stall (reference: idle loop)",
                shared["max_lag_ms"],
                result["idle_max_lag_ms"],
                unit="ms",
                target=f"< {STALL_TARGET_MS:g} ms",
                passed=shared["max_lag_ms"] < STALL_TARGET_MS and shared["events"] == 0,
            )
        )
    # Information only: at the scaled interval the own-loops pass is N polls per interval on one
    # loop (400/s for 200 at 0.5 s), 120x the load of the default 60 s interval.
    out.append(
        Row(
            f"watchers, {n:,} (own loops, {result['poll_interval_s']:g} s interval): longest loop stall",
            unshared["max_lag_ms"],
            result["idle_max_lag_ms"],
            unit="ms",
            passed=None,
            note="" if unshared["events"] == 0 else f"unexpected events: {unshared['events']}",
        )
    )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watchers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--poll-interval", type=float, default=2.0)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.watchers, args.seconds, args.poll_interval), indent=2))


if __name__ == "__main__":
    main()
