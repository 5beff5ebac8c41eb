"""Rate-limited export: 5,000 results exported by `ScrapingProsExportResultsOperator` under a sandbox
limit of 60 requests per minute, against the issue's floor and the official SDK in the same spot.

Floor: 5,000 results need 50 pages of 100 (inline results cap a page at 100), and at 60 requests per
minute 50 requests are 50 s of budget. The sandbox enforces fixed 60 s windows
(docs/api-notes.md#rate-limits-quota-and-credits), so
a client with a fresh window could send all 50 pages in a burst; the floor only binds when the
window is already spent. The scenario is therefore the one the limit is about: the export starts
with its token's window used up by other traffic and 50 s left until the window rolls over. No
client can fetch a page before then, so 50 s is the exact floor, and a client that does not know the
window is spent (a fresh worker process) meets a 429 first and must not fail on it.

Procedure: one finished run of N jobs per account (ours, SDK), created with rate limiting off; then
the limit is switched on, the sandbox clock is moved to 10 s into a window, each token's window is
spent with plain GETs until the first 429, and both exports start at once (one thread each, the
sandbox in its own process):

* **ours**: `ScrapingProsExportResultsOperator(...).execute(context)` — the task's own code path,
  outside a DAG run (minimal context: the run-link XCom is the only thing it touches), `files`
  layout on file://;
* **SDK**: `SyncClient.iter_results(cid, rid)`, each body written to its own file.

Measured: wall time of each, requests and 429 answers per account from the sandbox request log,
results written, and any exception (a task failure).

    python -m bench.ratelimited_export [--jobs 5000]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from .harness import (
    GET_JOBS,
    GET_RESULT,
    GET_RUN,
    WINDOW_S,
    Api,
    advance_to_phase,
    airflow_env,
    last_seq,
    requests_of,
    sandbox_process,
    set_connection,
    task_context,
    urls,
    window_phase,
)
from .table import Row

CONN_ID = "sp_bench_ratelimited"
PAGE = 100
TARGET_RATIO = 1.15
SPEND_SLACK_S = 5.0


def prepare(control: Any, client: str, jobs: int, rpm: int) -> dict[str, str]:
    """A finished run of `jobs` jobs on an account of its own; the limit stays off during setup."""
    token = f"sp_rl_{client}"
    control.set_token(token, requests_per_minute=rpm, max_concurrent_jobs=100, rate_limit_enabled=False)
    api = Api(control.base_url, token)
    try:
        cid = api.create_collection(f"ratelimited-{client}", urls("rl", jobs))
        rid = api.start_run(cid)
        api.wait_terminal(cid, rid)
    finally:
        api.close()
    return {"client": client, "token": token, "cid": cid, "rid": rid}


def spend_window(base_url: str, side: dict[str, str]) -> int:
    """Use up the token's current window (other traffic on a shared token); returns requests sent."""
    path = f"/v1/async/collections/{side['cid']}/runs/{side['rid']}"
    headers = {"Authorization": f"Bearer {side['token']}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as api:
        for sent in range(1, 10_000):
            if api.get(path).status_code == 429:
                return sent
    raise RuntimeError("the sandbox never answered 429: is the rate limit on?")


def export_ours(side: dict[str, str], out: Path) -> int:
    from airflow_provider_scrapingpros.operators.export import ScrapingProsExportResultsOperator

    operator = ScrapingProsExportResultsOperator(
        task_id="export",
        collection_id=side["cid"],
        run_id=side["rid"],
        destination=f"file://{out}",
        scrapingpros_conn_id=CONN_ID,
    )
    try:
        summary = operator.execute(task_context())
    finally:
        operator.hook.close()
    return int(summary["exported"])


def export_sdk(base_url: str, side: dict[str, str], out: Path) -> int:
    from scrapingpros import SyncClient

    out.mkdir(parents=True)
    written = 0
    with SyncClient(side["token"], base_url=base_url) as client:
        for result in client.iter_results(side["cid"], side["rid"]):
            (out / f"{result.custom_id}.html").write_text(result.html or "", encoding="utf-8")
            written += 1
    return written


def _warm_imports() -> None:
    import scrapingpros  # noqa: F401
    from airflow.sdk import ObjectStoragePath

    import airflow_provider_scrapingpros.operators.export  # noqa: F401

    ObjectStoragePath("file:///tmp").fs  # noqa: B018 (loads the fsspec local filesystem)


def _timed(work: Callable[[], int]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        written, error = work(), None
    except Exception as exc:  # a task failure is a result here, not a crash of the benchmark
        written, error = 0, f"{type(exc).__name__}: {exc}"[:500]
    return {"seconds": round(time.perf_counter() - started, 3), "written": written, "error": error}


def traffic(control: Any, side: dict[str, str], since_seq: int) -> dict[str, int]:
    items = requests_of(control, [side["cid"]], since_seq)
    return {
        "requests": len(items),
        "answered_429": sum(i["status"] == 429 for i in items),
        "pages": sum(i["route"] == GET_JOBS and i["status"] == 200 for i in items),
        "run_polls": sum(i["route"] == GET_RUN for i in items),
        "result_fetches": sum(i["route"] == GET_RESULT for i in items),
    }


def run(jobs: int = 5000, rpm: int = 60, lead_s: float | None = 50.0) -> dict[str, Any]:
    """`lead_s`: start with the window spent and this long before it rolls over (None: a fresh
    window, nothing spent — the tiny test size, which must not wait a minute)."""
    airflow_env()
    with sandbox_process(0.01) as control, tempfile.TemporaryDirectory(prefix="sp-bench-rl-") as tmp:
        ours, sdk = (prepare(control, client, jobs, rpm) for client in ("ours", "sdk"))
        set_connection(CONN_ID, control.base_url, ours["token"])
        for side in (ours, sdk):
            control.set_token(side["token"], rate_limit_enabled=True)
        _warm_imports()  # the first import of the export stack is parse cost, not export time
        spent = {"ours": 0, "sdk": 0}
        if lead_s is not None:
            # Spend a window a little before the start point, then move the clock to exactly
            # `lead_s` before the roll-over: the floor is then exact, whatever spending took.
            advance_to_phase(control, WINDOW_S - lead_s - SPEND_SLACK_S)
            spent = {side["client"]: spend_window(control.base_url, side) for side in (ours, sdk)}
            if (phase := window_phase(control)) < WINDOW_S - lead_s:
                control.advance(WINDOW_S - lead_s - phase)
        seq = last_seq(control)
        start = float(control.clock()["epoch"])
        to_roll = (math.floor(start / WINDOW_S) + 1) * WINDOW_S - start if lead_s is not None else 0.0
        with ThreadPoolExecutor(2) as pool:
            ours_job = pool.submit(_timed, lambda: export_ours(ours, Path(tmp, "ours")))
            sdk_job = pool.submit(_timed, lambda: export_sdk(control.base_url, sdk, Path(tmp, "sdk")))
            timings = {"ours": ours_job.result(), "sdk": sdk_job.result()}
        report: dict[str, Any] = {
            "jobs": jobs,
            "rpm": rpm,
            "floor_s": math.ceil(jobs / PAGE) * 60.0 / rpm,
            "window_left_at_start_s": round(to_roll, 3),
            "spent_before_start": spent,
        }
        for side in (ours, sdk):
            name = side["client"]
            report[name] = {**timings[name], **traffic(control, side, seq)}
    return report


def rows(result: dict[str, Any]) -> list[Row]:
    ours, sdk, floor = result["ours"], result["sdk"], result["floor_s"]
    complete = ours["error"] is None and ours["written"] == result["jobs"]
    label = f"rate-limited export: {result['jobs']:,} results at {result['rpm']}/min"
    note = "" if complete else f"ours wrote {ours['written']}/{result['jobs']}: {ours['error']}"
    sdk_note = "" if sdk["error"] is None else f"SDK: {sdk['error']}"
    return [
        Row(
            f"{label}: wall time vs floor",
            ours["seconds"],
            floor,
            unit="s",
            target=f"≤ {TARGET_RATIO:.2f}x floor, 0 failed",
            passed=complete and ours["seconds"] <= TARGET_RATIO * floor,
            note=note,
        ),
        Row(f"{label}: wall time vs SDK", ours["seconds"], sdk["seconds"], unit="s", note=sdk_note),
        Row(
            f"{label}: requests (429s: ours {ours['answered_429']}, SDK {sdk['answered_429']})",
            ours["requests"],
            sdk["requests"],
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Export under a 60 requests/minute limit.")
    parser.add_argument("--jobs", type=int, default=5000)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.jobs), indent=2))


if __name__ == "__main__":
    main()
