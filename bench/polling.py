"""Polling cost: run-status requests needed to watch one run to completion, our deferrable task
against the official SDK's `run_and_wait`, on identical runs at the same time.

For each run size (50, 500, 5,000 jobs) two accounts get the same plan, job concurrency and URL list
(each job with the same simulated latency); one run each is started and watched concurrently, in one
event loop:

* **SDK**: `AsyncClient.run_and_wait(cid)` (POST …/run, then GET the run at once and every
  `adaptive_poll_interval(total, "status")` seconds, docs/api-notes.md#what-the-official-sdk-relies-on);
* **ours**: `ScrapingProsRunCollectionOperator(deferrable=True).execute()` (POST …/run, one check
  before deferring), then the `ScrapingProsRunTrigger` it defers to, rebuilt from its serialized
  form as the triggerer does, then `execute_complete()`. Every GET of the run counts, the
  operator's check included: that is what a user's task costs.

Counts come from the sandbox request log (GET …/runs/{rid} on each run's collection). Detection lag =
arrival time of the terminal observation (the last status GET) minus the `completed_at` of the run's
last job (the run completes in that same step, docs/api-notes.md#runs), both on the sandbox clock.

Run lengths are chosen at about 4.5 SDK intervals (3.5 for 5,000 jobs), away from a multiple of the
interval, so a few milliseconds of scheduling drift between the two clients cannot move a poll
across the completion instant and flip a count.

    python -m bench.polling
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass
from typing import Any

from airflow_provider_scrapingpros.runs.watcher import adaptive_interval

from .harness import (
    GET_RUN,
    Api,
    airflow_env,
    execute_until_deferred,
    first_event,
    requests_of,
    sandbox_process,
    set_connection,
    task_context,
    urls,
)
from .table import Row

RPM = 2000  # Enterprise: the budget never binds here; this benchmark counts polls, not throttling


@dataclass(frozen=True)
class Shape:
    jobs: int
    concurrency: int
    latency_ms: int

    @property
    def duration_s(self) -> float:
        return math.ceil(self.jobs / self.concurrency) * self.latency_ms / 1000

    @property
    def sdk_interval_s(self) -> float:
        return adaptive_interval(self.jobs)


SHAPES = (Shape(50, 10, 1800), Shape(500, 100, 9000), Shape(5000, 100, 1400))


@dataclass(frozen=True)
class Side:
    client: str  # "sdk" | "ours"
    shape: Shape
    token: str
    cid: str


def prepare(control: Any, shape: Shape) -> tuple[Side, Side]:
    sides = []
    for client in ("sdk", "ours"):
        token = f"sp_poll_{client}_{shape.jobs}"
        control.set_token(token, requests_per_minute=RPM, max_concurrent_jobs=shape.concurrency)
        api = Api(control.base_url, token)
        try:
            items = urls(f"poll/{shape.jobs}", shape.jobs, f"sp_latency_ms={shape.latency_ms}")
            cid = api.create_collection(f"poll-{shape.jobs}", items)
        finally:
            api.close()
        if client == "ours":
            set_connection(_conn_id(shape), control.base_url, token)
        sides.append(Side(client, shape, token, cid))
    return sides[0], sides[1]


def _conn_id(shape: Shape) -> str:
    return f"sp_bench_poll_{shape.jobs}"


async def watch_sdk(base_url: str, side: Side) -> dict[str, Any]:
    from scrapingpros import AsyncClient

    async with AsyncClient(side.token, base_url=base_url) as client:
        run = await client.run_and_wait(side.cid)
    return {"run_id": run.run_id, "status": run.status}


async def watch_ours(side: Side) -> dict[str, Any]:
    from airflow_provider_scrapingpros.operators.run import ScrapingProsRunCollectionOperator

    operator = ScrapingProsRunCollectionOperator(
        task_id=f"run_{side.shape.jobs}",
        collection_id=side.cid,
        deferrable=True,
        scrapingpros_conn_id=_conn_id(side.shape),
    )
    context = task_context()
    try:
        # The worker part is synchronous (requests): off the loop, so the SDK's polls stay on time.
        trigger = await asyncio.to_thread(execute_until_deferred, operator, context)
        event = await first_event(trigger)
        result = await asyncio.to_thread(operator.execute_complete, context, event)
    finally:
        operator.hook.close()
    return {"run_id": result["run_id"], "status": result["status"], "event": event["status"]}


async def _race(base_url: str, pairs: list[tuple[Side, Side]]) -> list[dict[str, Any]]:
    coroutines = []
    for sdk, ours in pairs:
        coroutines += [watch_sdk(base_url, sdk), watch_ours(ours)]
    return list(await asyncio.gather(*coroutines))


def observe(control: Any, side: Side, run_id: str) -> dict[str, Any]:
    """Status polls of this side's run and how long after completion the last one arrived."""
    polls = [i for i in requests_of(control, [side.cid]) if i["route"] == GET_RUN]
    api = Api(control.base_url, side.token)
    try:
        completed_at = api.last_completed_at(side.cid, run_id)
    finally:
        api.close()
    return {
        "run_id": run_id,
        "polls": len(polls),
        "statuses": sorted({int(p["status"]) for p in polls if p["status"] is not None}),
        "lag_s": round(polls[-1]["sandbox_time"] - completed_at, 3) if polls else None,
        "completed_at": completed_at,
    }


def run(shapes: tuple[Shape, ...] = SHAPES) -> dict[str, Any]:
    airflow_env()
    with sandbox_process(1.0) as control:  # time_scale 1: latencies are wall-clock milliseconds
        pairs = [prepare(control, shape) for shape in shapes]
        control.clear_requests()  # only the watching is counted, not the setup
        outcomes = asyncio.run(_race(control.base_url, pairs))
        report = []
        for (sdk, ours), sdk_out, ours_out in zip(pairs, outcomes[0::2], outcomes[1::2], strict=True):
            shape = sdk.shape
            sdk_seen = observe(control, sdk, sdk_out["run_id"])
            ours_seen = observe(control, ours, ours_out["run_id"])
            report.append(
                {
                    "jobs": shape.jobs,
                    "concurrency": shape.concurrency,
                    "latency_ms": shape.latency_ms,
                    "expected_duration_s": shape.duration_s,
                    "sdk_interval_s": shape.sdk_interval_s,
                    "sdk": {**sdk_out, **sdk_seen},
                    # the operator's one check before deferring; the rest are the trigger's polls
                    "ours": {**ours_out, **ours_seen, "trigger_polls": ours_seen["polls"] - 1},
                }
            )
    return {"shapes": report}


def rows(result: dict[str, Any]) -> list[Row]:
    out = []
    for shape in result["shapes"]:
        sdk, ours, interval = shape["sdk"], shape["ours"], shape["sdk_interval_s"]
        done = sdk["status"] == "completed" and ours["status"] == "completed" and ours["event"] == "success"
        polls = Row(
            f"polling {shape['jobs']:,} jobs: run-status requests",
            ours["polls"],
            sdk["polls"],
            target="≤ 1.00x SDK",
            passed=done and ours["polls"] <= sdk["polls"],
            note="" if done else f"runs did not both complete: sdk {sdk['status']}, ours {ours['status']}",
        )
        lag = Row(
            f"polling {shape['jobs']:,} jobs: detection lag",
            ours["lag_s"],
            sdk["lag_s"],
            unit="s",
            target=f"≤ {interval:g} s (1 SDK interval)",
            passed=ours["lag_s"] is not None and ours["lag_s"] <= interval,
        )
        out += [polls, lag]
    return out


def main() -> None:
    print(json.dumps(run(), indent=2))


if __name__ == "__main__":
    main()
