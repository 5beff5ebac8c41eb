"""What the side-by-side benchmarks share: a sandbox in its own process, tokens with chosen plans,
Airflow connections pointing at it, runs set up over raw HTTP, and readings of the request log.

Design decisions:

* The sandbox always runs in its own process: a server sharing our GIL would be measured as ours
  (event-loop stalls, throughput). It is stopped by its pid, never by name.
* Every benchmark gets its own tokens (`PUT /_sandbox/tokens/...`), so the clients it compares never
  share a rate window or a job-concurrency slot: "identical runs" means identical URLs, latencies,
  plan and concurrency, each on an account of its own.
* Setup (collections, runs, waiting for them) uses plain httpx, not our hook, so the code under test
  shares no state (rate budget, pooled clients) with the scaffolding.
* Rate windows are fixed 60 s windows of the sandbox clock. Benchmarks that depend on where in a
  window they start move the sandbox clock forward (`/_sandbox/clock/advance`) instead of sleeping
  up to a minute.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from airflow_provider_scrapingpros.sandbox.process import sandbox_subprocess

ROOT = Path(__file__).resolve().parents[1]
WINDOW_S = 60.0  # the sandbox's rate window (docs/api-notes.md#rate-limits-quota-and-credits)
GET_RUN = "GET /v1/async/collections/{cid}/runs/{rid}"
GET_JOBS = "GET /v1/async/collections/{cid}/runs/{rid}/jobs"
GET_RESULT = "GET /v1/async/collections/{cid}/runs/{rid}/jobs/{jid}/result"


def airflow_env() -> None:
    """Airflow reads its configuration on first import: a throwaway home, no examples, no DB needed."""
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="sp-bench-airflow-"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


def connection_env(conn_id: str, base_url: str, token: str, **extra: Any) -> dict[str, str]:
    value = {"conn_type": "scrapingpros", "host": base_url, "password": token, "extra": extra}
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(value)}


def set_connection(conn_id: str, base_url: str, token: str, **extra: Any) -> None:
    os.environ.update(connection_env(conn_id, base_url, token, **extra))


@contextmanager
def sandbox_process(time_scale: float = 0.01, *extra_args: str) -> Iterator[SandboxControl]:
    """The sandbox CLI on a free port, in its own process; yields its control client. (The sandbox's
    server listens with a 1,024-connection backlog, so 1,000 triggers polling at a rate-window
    roll-over are not dropped.)"""
    with sandbox_subprocess("--time-scale", str(time_scale), *extra_args) as base_url:
        yield SandboxControl(base_url)


class Api:
    """Raw HTTP for setup and checks, as one token (not our hook: see the module docstring)."""

    def __init__(self, base_url: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=600.0
        )

    def close(self) -> None:
        self.client.close()

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.client.request(method, path, **kwargs)
        if resp.status_code >= 400:
            raise RuntimeError(f"{method} {path} -> {resp.status_code}: {resp.text[:300]}")
        return resp.json()

    def create_collection(self, name: str, items: Sequence[dict[str, Any]]) -> str:
        return str(
            self._json("POST", "/v1/async/collections", json={"name": name, "requests": list(items)})["id"]
        )

    def start_run(self, cid: str) -> str:
        return str(self._json("POST", f"/v1/async/collections/{cid}/run")["run_id"])

    def get_run(self, cid: str, rid: str) -> dict[str, Any]:
        run: dict[str, Any] = self._json("GET", f"/v1/async/collections/{cid}/runs/{rid}")
        return run

    def wait_terminal(self, cid: str, rid: str, timeout: float = 600.0, every: float = 0.1) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (run := self.get_run(cid, rid))["status"] == "in_progress":
            if time.monotonic() > deadline:
                raise RuntimeError(f"run {rid} still in progress after {timeout:.0f} s")
            time.sleep(every)
        return run

    def last_completed_at(self, cid: str, rid: str) -> float:
        """When the run's last job ended (sandbox clock, epoch s): the run completes in that step."""
        params = {"order_by": "completed_at", "order_dir": "desc", "limit": 1}
        page = self._json("GET", f"/v1/async/collections/{cid}/runs/{rid}/jobs", params=params)
        return iso_epoch(page["items"][0]["completed_at"])


def urls(prefix: str, n: int, query: str = "") -> list[dict[str, Any]]:
    """`n` request items with stable URLs (and custom ids); `query` adds sandbox hints to each."""
    suffix = f"?{query}" if query else ""
    tag = prefix.replace("/", "-")
    return [
        {"url": f"https://example.com/{prefix}/{i}{suffix}", "custom_id": f"{tag}-{i:05d}"} for i in range(n)
    ]


def iso_epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def window_phase(control: SandboxControl) -> float:
    """Seconds since the current rate window began, on the sandbox clock."""
    return float(control.clock()["epoch"]) % WINDOW_S


def advance_to_phase(control: SandboxControl, phase: float) -> float:
    """Move the sandbox clock forward to `phase` seconds into a rate window (the next one if that
    point of the current window has passed); returns the new sandbox time."""
    now = float(control.clock()["epoch"])
    target = now - now % WINDOW_S + phase
    if target <= now:
        target += WINDOW_S
    return float(control.advance(target - now)["epoch"])


def requests_of(control: SandboxControl, cids: Iterable[str], since_seq: int = 0) -> list[dict[str, Any]]:
    """Request-log items whose path names one of these collections."""
    wanted = tuple(f"/collections/{cid}" for cid in cids)
    items = control.requests(since_seq=since_seq)
    return [item for item in items if any(w in item["path"] for w in wanted)]


def last_seq(control: SandboxControl) -> int:
    items = control.requests()
    return int(items[-1]["seq"]) if items else 0


def per_window(items: Iterable[dict[str, Any]]) -> dict[int, int]:
    """Requests per fixed 60 s window of the sandbox clock."""
    counts: dict[int, int] = {}
    for item in items:
        window = int(item["sandbox_time"] // WINDOW_S)
        counts[window] = counts.get(window, 0) + 1
    return counts


def peak_rss_mb() -> float:
    """This process image's peak RSS (VmHWM). Not `ru_maxrss`: Linux carries the parent's resident
    size across fork and exec into it, so a child started by a 300 MB benchmark process reports at
    least 300 MB whatever it uses itself (measured: 313 MB reported for a 13 MB child)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


class FakeTaskInstance:
    """The little of `context["ti"]` our operators touch outside a DAG run (the run link's XCom)."""

    def __init__(self) -> None:
        self.try_number = 1
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def task_context() -> dict[str, Any]:
    """A minimal task context: enough for execute() / execute_complete() of our operators."""
    return {"ti": FakeTaskInstance()}


def execute_until_deferred(operator: Any, context: dict[str, Any]) -> Any:
    """Run `operator.execute(context)`; return the trigger it defers to, rebuilt from its serialized
    form as the triggerer would (classpath + kwargs). A task that finishes without deferring is an
    error here: the benchmarks that call this measure the deferred path."""
    # Airflow 3.1 has no airflow.sdk.exceptions.TaskDeferred; the benchmarks run on 3.3 only.
    from airflow.sdk.exceptions import TaskDeferred  # type: ignore[attr-defined]

    try:
        result = operator.execute(context)
    except TaskDeferred as deferred:
        return rebuild_trigger(deferred.trigger)
    raise RuntimeError(f"{operator.task_id} finished without deferring: {result!r:.200}")


def rebuild_trigger(trigger: Any) -> Any:
    import importlib

    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)(**json.loads(json.dumps(kwargs)))


async def first_event(trigger: Any) -> dict[str, Any]:
    """What the triggerer does with a trigger: iterate `run()` until its first event, then clean up."""
    try:
        async for event in trigger.run():
            payload: dict[str, Any] = event.payload
            return payload
    finally:
        await trigger.cleanup()
    raise RuntimeError(f"{type(trigger).__name__} ended without an event")
