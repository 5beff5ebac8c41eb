"""Triggerer scale: 1,000 `ScrapingProsRunTrigger`s on one event loop, each watching its own run in
the sandbox until all have finished.

The triggers run in a child process of their own (so its peak RSS is theirs plus the interpreter
and Airflow, nothing of the benchmark's), the sandbox in another. The child does what Airflow's
`TriggerRunner` does: it creates the triggers one at a time from their serialized kwargs, yielding
to the loop around each (`create_triggers`), iterates each to its first event and cleans it up.
Measured in the child:

* **longest loop stall**: a probe task sleeps 10 ms in a loop and records how late it wakes (any
  loop step that runs long delays it: a blocking call, a burst of callbacks, a GC pause). The same
  probe first runs 10 s on the idle loop: the machine's own noise floor, the row's reference.
  GC pauses are timed too (gc.callbacks), so a stall can be told apart from a collection;
* **peak RSS**: the child's own peak (VmHWM, harness.peak_rss_mb); the reference is its RSS just
  before the triggers start;
* with `debug=True` (a second pass in `make bench`): asyncio debug mode with a 50 ms slow-callback
  threshold, whose records name the callbacks that ran long. Debug mode stores a traceback per
  scheduled callback, so that pass's stall and RSS figures are not the verdict, its records are.

Measured from the sandbox request log: requests per fixed 60 s window of the token, and 429s.

Plan and timing: the token has the Enterprise limit (2,000 requests/minute) and 100 concurrent jobs;
1,000 runs of 5 jobs of 0.9 s each finish one after another over ~45 s. 1,000 triggers polling every
2 s would want 30,000 requests/minute: the shared client-side rate budget (ratelimit.py) is what
keeps them within 2,000, and what this measures. The runs are created in the window before the
triggers start (queued behind a plug job that holds the token's one job slot), then the sandbox
clock is moved to the start of a fresh window: the triggers' requests are the only ones in their
windows. The sandbox listens with a 1,024-connection backlog (sandbox/server.py).

Before the triggers start the child collects and freezes the heap it has so far (Airflow and the
imports, ~200k objects), as the hook's debug-loop tests do: a full collection of that heap takes
~80 ms on this machine whoever triggers it; GC pauses that remain are reported separately.

With SP_BENCH_PYSPY=<path to py-spy> the child runs under py-spy (see `_profiled`).

    python -m bench.triggerer [--triggers 1000] [--debug]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from .harness import (
    GET_RUN,
    ROOT,
    Api,
    advance_to_phase,
    airflow_env,
    connection_env,
    current_rss_mb,
    last_seq,
    peak_rss_mb,
    per_window,
    sandbox_process,
    urls,
)
from .table import RESULTS, Row

TOKEN = "sp_bench_triggerer"
CONN_ID = "sp_bench_triggerer"
PROBE_S = 0.010
SLOW_CALLBACK_S = 0.050
STALL_TARGET_MS = 50.0
RSS_TARGET_MB = 250.0
PLUG_MS = 3_000_000
LOG_PATH = RESULTS / "triggerer-child.log"  # kept after the run (bench/results/ is git-ignored)


# ------------------------------------------------------------------------------------------ parent


def create_runs(base_url: str, runs: int, jobs: int, latency_ms: int) -> list[tuple[str, str]]:
    """One plug run first: its single hour-long job holds the token's only job slot, so the runs
    created after it wait, unstarted, until the slots are raised when the triggers start."""
    api = Api(base_url, TOKEN)
    try:
        api.start_run(api.create_collection("plug", urls("plug", 1, f"sp_latency_ms={PLUG_MS}")))
        cid = api.create_collection("triggerer", urls("trig", jobs, f"sp_latency_ms={latency_ms}"))
        return [(cid, api.start_run(cid)) for _ in range(runs)]
    finally:
        api.close()


def run(
    triggers: int = 1000,
    jobs_per_run: int = 5,
    concurrency: int = 100,
    latency_ms: int = 900,
    rpm: int = 2000,
    debug: bool = False,
    idle_s: float = 10.0,
    log: Path = LOG_PATH,
    object_batch: int = 200,
) -> dict[str, Any]:
    airflow_env()
    log.parent.mkdir(parents=True, exist_ok=True)
    timeout = ("--worker-timeout", str(2 * PLUG_MS / 1000))
    with (
        sandbox_process(1.0, *timeout) as control,
        tempfile.TemporaryDirectory(prefix="sp-bench-trig-") as tmp,
    ):
        control.set_token(TOKEN, requests_per_minute=rpm, max_concurrent_jobs=1, rate_limit_enabled=False)
        advance_to_phase(control, 40.0)  # room for the setup before this window ends
        runs = create_runs(control.base_url, triggers, jobs_per_run, latency_ms)
        result_path = Path(tmp, "result.json")
        config: dict[str, Any] = {
            "runs": runs,
            "env": connection_env(CONN_ID, control.base_url, TOKEN),
            "debug": debug,
            "result": str(result_path),
            "idle_s": idle_s,
            "log": str(log),
            "object_batch": object_batch,
        }
        Path(tmp, "config.json").write_text(json.dumps(config), encoding="utf-8")
        command = [sys.executable, "-m", "bench.triggerer", "--child", str(Path(tmp, "config.json"))]
        child = subprocess.Popen(
            _profiled(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        try:
            assert child.stdin is not None and child.stdout is not None
            for line in child.stdout:  # a profiler wrapping the child may print first
                if line.strip() == "READY":
                    break
            else:
                raise RuntimeError(f"trigger process did not start; see {log}")
            # A fresh rate window for the triggers alone, and the jobs may now run at full speed.
            advance_to_phase(control, 0.05)
            control.set_token(TOKEN, max_concurrent_jobs=concurrency + 1, rate_limit_enabled=True)
            seq = last_seq(control)
            go = float(control.clock()["epoch"])
            child.stdin.write("GO\n")
            child.stdin.flush()
            child.wait(timeout=900)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        if child.returncode != 0:
            raise RuntimeError(f"trigger process exited {child.returncode}; log: {_tail(log)}")
        report: dict[str, Any] = json.loads(result_path.read_text(encoding="utf-8"))
        report["api"] = _traffic(control.requests(since_seq=seq), rpm)
        report["runs_done_s"] = _runs_done(control, runs, go)
        report["trigger_log"] = _warnings(log)
    report["setup"] = {
        "triggers": triggers,
        "jobs_per_run": jobs_per_run,
        "concurrency": concurrency,
        "latency_ms": latency_ms,
        "rpm": rpm,
        "debug": debug,
        "idle_probe_s": idle_s,
    }
    return report


def _profiled(command: list[str]) -> list[str]:
    """With SP_BENCH_PYSPY=<py-spy binary>, sample the trigger process (raw collapsed stacks, 250 Hz)
    into bench/results/triggerer.pyspy.txt: how the loop spends its time, for a failing target."""
    pyspy = os.environ.get("SP_BENCH_PYSPY")
    if not pyspy:
        return command
    out = RESULTS / "triggerer.pyspy.txt"
    return [pyspy, "record", "--rate", "250", "--format", "raw", "--output", str(out), "--", *command]


def _traffic(items: list[dict[str, Any]], rpm: int) -> dict[str, Any]:
    windows = per_window(items)
    span = items[-1]["sandbox_time"] - items[0]["sandbox_time"] if items else 0.0
    return {
        "requests": len(items),
        "run_polls": sum(i["route"] == GET_RUN for i in items),
        "answered_429": sum(i["status"] == 429 for i in items),
        "other_errors": sum(
            i["status"] is None or (i["status"] >= 400 and i["status"] != 429) for i in items
        ),
        "per_window": [windows[w] for w in sorted(windows)],
        "peak_per_minute": max(windows.values(), default=0),
        "span_s": round(span, 3),
        "budget_per_minute": rpm,
    }


def _runs_done(control: Any, runs: list[tuple[str, str]], go: float) -> dict[str, float]:
    """When the first, middle and last runs finished, in seconds after the triggers started."""
    api = Api(control.base_url, TOKEN)
    try:
        picks = {"first": runs[0], "middle": runs[len(runs) // 2], "last": runs[-1]}
        return {name: round(api.last_completed_at(cid, rid) - go, 3) for name, (cid, rid) in picks.items()}
    finally:
        api.close()


def _warnings(path: Path) -> dict[str, Any]:
    """Warnings (failed polls) and retries the triggers logged: counts and a few samples."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    warnings = [line for line in lines if "warn" in line.lower()]
    retries = [line for line in lines if "retrying in" in line]
    return {"warnings": len(warnings), "retries": len(retries), "samples": (warnings + retries)[:5]}


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def rows(result: dict[str, Any]) -> list[Row]:
    n, loop, api = result["triggers"], result["loop"], result["api"]
    events = result["events"]
    all_ok = events.get("success", 0) == n
    stalled = loop["max_lag_ms"] >= STALL_TARGET_MS
    note = "" if all_ok else f"events: {events}. "
    if stalled:
        worst = ", ".join(f"{w['ms']:.0f} ms at {w['at_s']:.1f} s" for w in loop["worst"][:3])
        longest_gc = max((p["ms"] for p in result["gc"]["longest"]), default=0.0)
        note += f"worst stalls: {worst} after start; longest GC pause {longest_gc:.0f} ms"
    where = f"{n:,} triggers"
    return [
        Row(
            f"triggerer, {where}: longest loop stall (reference: idle loop)",
            loop["max_lag_ms"],
            loop["idle_max_lag_ms"],
            unit="ms",
            target=f"< {STALL_TARGET_MS:g} ms",
            passed=all_ok and loop["max_lag_ms"] < STALL_TARGET_MS,
            note=note,
        ),
        Row(
            f"triggerer, {where}: peak RSS (reference: before the triggers)",
            result["rss_mb"]["peak"],
            result["rss_mb"]["before_triggers"],
            unit="MB",
            target=f"< {RSS_TARGET_MB:g} MB",
            passed=result["rss_mb"]["peak"] < RSS_TARGET_MB,
        ),
        Row(
            "triggerer: GC-tracked objects one waiting run trigger keeps alive (info)",
            result["gc"]["tracked_objects_per_waiting_trigger"],
            note=f"longest GC pause {max((p['ms'] for p in result['gc']['longest']), default=0.0):.0f} ms",
        ),
        Row(
            f"triggerer, {where}: API requests/min (peak window; 429s: {api['answered_429']})",
            api["peak_per_minute"],
            api["budget_per_minute"],
            unit="/min",
            target="≤ 1.00x budget, 0 x 429",
            passed=api["peak_per_minute"] <= api["budget_per_minute"] and api["answered_429"] == 0,
        ),
    ]


def debug_rows(result: dict[str, Any]) -> list[Row]:
    """The asyncio-debug pass: its stall figures carry debug mode's own overhead (a traceback per
    scheduled callback), so only its slow-callback records are a verdict."""
    n, slow = result["triggers"], result["slow_callbacks"]
    events = result["events"]
    all_ok = events.get("success", 0) == n
    sample = slow["samples"][0] if slow["samples"] else ""
    gc_note = ""
    if slow["count"]:
        took = zip(slow["took_ms"], slow["gc_inside_ms"], strict=True)
        per_trigger = result["gc"]["tracked_objects_per_waiting_trigger"]
        gc_note = (
            f"took {', '.join(f'{t:.0f} ms (GC inside: {g:.0f} ms)' for t, g in took)}; "
            f"a waiting trigger keeps {per_trigger:g} objects in debug mode. "
        )
    return [
        Row(
            f"triggerer, {n:,} triggers, asyncio debug: callbacks ≥ {SLOW_CALLBACK_S * 1000:g} ms",
            slow["count"],
            target="0",
            passed=all_ok and slow["count"] == 0,
            note=(f"events: {events}. " if not all_ok else "")
            + gc_note
            + (f"e.g. {_short(sample)}" if sample else ""),
        )
    ]


def _short(message: str) -> str:
    """An asyncio slow-callback record without its creation traceback noise."""
    head = message.split(" created at ")[0]
    took = message.rsplit(" took ", 1)[-1]
    return f"{head[:140]} … took {took}"


# ------------------------------------------------------------------------------------------- child


class _Records(logging.Handler):
    """Keeps asyncio's debug-mode records (slow callbacks, never-retrieved exceptions...)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []
        self.at: list[float] = []  # perf_counter when logged: right after the callback ended

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self.at.append(time.perf_counter())

    def slow_callbacks(self, origin: float, pauses: list[tuple[int, float, float]]) -> dict[str, Any]:
        """The slow-callback records, each with how long it took and the longest GC pause that ran
        inside it: a collection runs in whichever callback allocates when it is due, so a slow
        record can be the collector's time rather than the callback's."""
        slow = []
        for message, at in zip(self.messages, self.at, strict=True):
            if not (message.startswith("Executing") and " took " in message):
                continue
            took_ms = float(message.rsplit(" took ", 1)[-1].split()[0]) * 1000
            end = at - origin
            inside = [ms for _, gc_end, ms in pauses if end - took_ms / 1000 <= gc_end <= end]
            slow.append((message, round(took_ms, 1), round(max(inside, default=0.0), 1)))
        return {
            "count": len(slow),
            "samples": [m for m, _, _ in slow[:5]],
            "took_ms": [t for _, t, _ in slow],
            "gc_inside_ms": [g for _, _, g in slow],
        }


class _GcTimer:
    def __init__(self, origin: float) -> None:
        self.origin = origin
        self._started = 0.0
        self.pauses: list[tuple[int, float, float]] = []  # (generation, at_s, ms)

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._started = now
        else:
            self.pauses.append((int(info["generation"]), now - self.origin, (now - self._started) * 1000))


async def _probe(
    stop: asyncio.Event, origin: float, lags: list[tuple[float, float]], rss: list[float]
) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(PROBE_S)
        lags.append((before - origin, (loop.time() - before - PROBE_S) * 1000))
        if len(lags) % 50 == 0:
            rss.append(current_rss_mb())


async def _idle_probe(seconds: float) -> float:
    """The same probe on the same loop with nothing else on it: this machine's own noise floor."""
    stop = asyncio.Event()
    lags: list[tuple[float, float]] = []
    asyncio.get_running_loop().call_later(seconds, stop.set)
    await _probe(stop, time.perf_counter(), lags, [])
    return round(max((lag for _, lag in lags), default=0.0), 2)


async def _watch_all(runs: list[list[str]], origin: float) -> dict[str, Any]:
    from airflow_provider_scrapingpros.triggers.run import ScrapingProsRunTrigger

    from .harness import first_event, rebuild_trigger

    stop = asyncio.Event()
    lags: list[tuple[float, float]] = []
    rss: list[float] = []
    probe = asyncio.create_task(_probe(stop, origin, lags, rss))

    async def one(trigger: Any) -> tuple[str, float]:
        payload = await first_event(trigger)
        return str(payload["status"]), time.perf_counter() - origin

    tasks = []
    for cid, rid in runs:  # as TriggerRunner.create_triggers: one at a time, yielding around each
        await asyncio.sleep(0)
        trigger = rebuild_trigger(ScrapingProsRunTrigger(cid, rid, scrapingpros_conn_id=CONN_ID))
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(one(trigger)))
    created = time.perf_counter() - origin
    outcomes = await asyncio.gather(*tasks)
    stop.set()
    await probe
    worst = sorted(lags, key=lambda lag: lag[1], reverse=True)
    ordered = sorted(lag for _, lag in lags)
    return {
        "events": dict(Counter(status for status, _ in outcomes)),
        "created_s": round(created, 3),
        "last_event_s": round(max((t for _, t in outcomes), default=0.0), 3),
        "loop": {
            "probes": len(lags),
            "max_lag_ms": round(worst[0][1], 2) if worst else 0.0,
            "p99_lag_ms": round(ordered[int(len(ordered) * 0.99)], 2) if ordered else 0.0,
            "over_50ms": sum(lag > STALL_TARGET_MS for _, lag in lags),
            "worst": [{"at_s": round(t, 3), "ms": round(ms, 2)} for t, ms in worst[:10]],
        },
        "rss_sampled_peak_mb": round(max(rss, default=0.0), 1),
    }


async def _objects_per_trigger(runs: list[list[str]]) -> float:
    """GC-tracked objects one waiting trigger keeps alive: triggers on runs still queued behind the
    plug poll once and sleep; the tracked heap is counted before and after (a warm-up batch first,
    so lazy imports and caches are not charged to them), then they are cancelled."""
    from airflow_provider_scrapingpros.triggers.run import ScrapingProsRunTrigger

    from .harness import first_event

    async def batch(items: list[list[str]]) -> int:
        tasks = [
            asyncio.create_task(
                first_event(ScrapingProsRunTrigger(cid, rid, scrapingpros_conn_id=CONN_ID, poll_interval=600))
            )
            for cid, rid in items
        ]
        await asyncio.sleep(0.5 + len(items) / 100)  # each has polled once (~1 ms a poll) and sleeps
        gc.collect()
        count = len(gc.get_objects())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return count

    await batch(runs[:5])
    gc.collect()
    before = len(gc.get_objects())
    after = await batch(runs)
    gc.collect()
    return round((after - before) / len(runs), 1)


def child(config_path: str) -> None:
    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    os.environ.update(config["env"])
    log_file = open(config["log"], "w", encoding="utf-8")  # noqa: SIM115 (lives as long as the process)
    os.dup2(log_file.fileno(), 2)
    # Everything the triggers need, imported before the clock starts (the triggerer has it loaded).
    # The triggerer's own module too: Airflow's async connection lookup imports its supervisor
    # module on first use, 20-25 ms on the loop here that a real triggerer never pays.
    import airflow.jobs.triggerer_job_runner
    import airflow.sdk  # noqa: F401

    from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook  # noqa: F401
    from airflow_provider_scrapingpros.triggers.run import ScrapingProsRunTrigger  # noqa: F401

    records = _Records()
    logging.getLogger("asyncio").addHandler(records)
    logging.getLogger("asyncio").setLevel(logging.DEBUG)
    gc.collect()
    gc.freeze()
    before = current_rss_mb()
    loop = asyncio.new_event_loop()
    loop.set_debug(bool(config["debug"]))
    loop.slow_callback_duration = SLOW_CALLBACK_S
    idle = loop.run_until_complete(_idle_probe(float(config["idle_s"])))
    per_trigger = loop.run_until_complete(_objects_per_trigger(config["runs"][: config["object_batch"]]))
    records.messages.clear()
    records.at.clear()
    print("READY", flush=True)
    sys.stdin.readline()
    os.dup2(log_file.fileno(), 1)  # trigger logs (structlog prints to stdout) go to the log file

    origin = time.perf_counter()
    timer = _GcTimer(origin)
    gc.callbacks.append(timer)
    try:
        report = loop.run_until_complete(_watch_all(config["runs"], origin))
    finally:
        loop.close()
        gc.callbacks.remove(timer)
    report["loop"]["idle_max_lag_ms"] = idle
    report |= {
        "triggers": len(config["runs"]),
        "slow_callbacks": records.slow_callbacks(origin, timer.pauses),
        "asyncio_records": len(records.messages),
        "gc": _gc_summary(timer.pauses) | {"tracked_objects_per_waiting_trigger": per_trigger},
        "rss_mb": {
            "before_triggers": round(before, 1),
            "peak": round(peak_rss_mb(), 1),
            "sampled_peak": report.pop("rss_sampled_peak_mb"),
        },
    }
    Path(config["result"]).write_text(json.dumps(report), encoding="utf-8")


def _gc_summary(pauses: list[tuple[int, float, float]]) -> dict[str, Any]:
    by_gen: dict[str, dict[str, float]] = {}
    for gen, _, ms in pauses:
        entry = by_gen.setdefault(str(gen), {"count": 0, "max_ms": 0.0})
        entry["count"] += 1
        entry["max_ms"] = round(max(entry["max_ms"], ms), 2)
    longest = sorted(pauses, key=lambda p: p[2], reverse=True)[:5]
    return {
        "by_generation": by_gen,
        "longest": [{"gen": g, "at_s": round(t, 3), "ms": round(ms, 2)} for g, t, ms in longest],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="1,000 run triggers on one event loop.")
    parser.add_argument("--triggers", type=int, default=1000)
    parser.add_argument("--debug", action="store_true", help="asyncio debug mode on (50 ms slow callbacks)")
    parser.add_argument("--child", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child)
        return
    print(json.dumps(run(args.triggers, debug=args.debug), indent=2))


if __name__ == "__main__":
    main()
