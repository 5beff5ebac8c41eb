"""The distributed lane (`make distributed`): the provider on a distributed Airflow, on loopback.

PostgreSQL (metadata DB) and Redis (Celery broker), each with data in a temporary folder; Airflow with
CeleryExecutor: API server, scheduler, DAG processor, two Celery workers (`--celery-hostname` w1, w2)
and two triggerers; the sandbox and a moto S3 server (versioned bucket), each in a process of its own.
Then, with workers, triggerers and the database killed or restarted under running tasks:

  reattach   (3) a worker killed between POST …/run and the defer: the retry reattaches, 1 run
  export     (2) a worker killed mid-export: the retry resumes; objects = a clean export, 1 version/key
  triggerer  (4) a triggerer killed with runs deferred on both: all succeed, 0 extra runs
  plan       (1) one token on a 60 req/min plan under 20 mapped collections
  race       (5) two exports of one run into one destination at once, both layouts, on S3
  database   (6) PostgreSQL restarted while runs are deferred

Prints one table (scenario, what was checked, figure, PASS/FAIL); exit status 0 only if all pass.
Everything started is stopped by its PID at the end, pass or fail.

    python -m tests.distributed.lane [--only reattach,export] [--keep]

Sizes (environment): SP_DIST_EXPORT_JOBS (2000), SP_DIST_MANY (20), SP_DIST_PLAN_COLLECTIONS (20),
SP_DIST_PLAN_JOBS (20), SP_DIST_RACE_JOBS (1500).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from tests.distributed.services import MotoS3, Postgres, Redis
from tests.standalone.cluster import Cluster, wait_for

HERE = Path(__file__).parent
TOKEN = "sp_sandbox_dev"  # Enterprise plan
PLAN_TOKEN = "sp_dist_growth_plan"  # set to the Growth plan: 60 requests per minute
PLAN_RPM = 60
PLAN_POOL, PLAN_POOL_SLOTS = "scrapingpros_plan", int(os.environ.get("SP_DIST_PLAN_POOL_SLOTS", "2"))
WORKERS = ("worker-1", "worker-2")
TRIGGERERS = ("triggerer-1", "triggerer-2")
HEARTBEAT_TIMEOUT_S = 15  # a killed worker's task is declared lost this long after its last heartbeat
EXPORT_JOBS = int(os.environ.get("SP_DIST_EXPORT_JOBS", "2000"))
MANY = int(os.environ.get("SP_DIST_MANY", "20"))
PLAN_COLLECTIONS = int(os.environ.get("SP_DIST_PLAN_COLLECTIONS", "20"))
PLAN_JOBS = int(os.environ.get("SP_DIST_PLAN_JOBS", "20"))
RACE_JOBS = int(os.environ.get("SP_DIST_RACE_JOBS", "1500"))
SAME_HOST = os.environ.get("SP_DIST_SAME_HOST", "") == "1"  # all workers on this host's name
RUN_ROUTE = "POST /v1/async/collections/{cid}/run"
GET_RUN_ROUTE = "GET /v1/async/collections/{cid}/runs/{rid}"
Row = tuple[str, str, str, bool]
# What a losing export attempt may end with: ours, naming the other task and what to do.
CLEAR_ERRORS = {"ExportInProgressError"}


class Sandbox:
    """The sandbox CLI in its own process (its GIL is not the lane's), driven over HTTP."""

    def __init__(self, home: Path) -> None:
        import subprocess

        from airflow_provider_scrapingpros.sandbox.control import SandboxControl
        from tests.standalone.cluster import free_port

        self.port = free_port()
        command = [
            sys.executable, "-m", "airflow_provider_scrapingpros.sandbox", "--port", str(self.port),
            "--worker-timeout", "100000",  # jobs held for an hour (simulated) must not time out
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            command,
            stdout=(home / "sandbox.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.base_url = f"http://127.0.0.1:{self.port}"
        from tests.distributed.services import port_open

        wait_for("the sandbox", lambda: port_open(self.port), 60, every=0.2)
        self.control = SandboxControl(self.base_url)
        self.http = requests.Session()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)

    def call(self, method: str, path: str, token: str = TOKEN, **kwargs: Any) -> Any:
        answer = self.http.request(
            method, self.base_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=60, **kwargs
        )
        answer.raise_for_status()
        return answer.json()

    def finished_run(self, name: str, jobs: int) -> tuple[str, str]:
        """A collection of `jobs` URLs, run to completion outside Airflow; (collection_id, run_id)."""
        urls = [
            {"url": f"https://example.com/{name}/{i}", "custom_id": f"{name}-{i:05d}"} for i in range(jobs)
        ]
        created = self.call("POST", "/v1/async/collections", json={"name": name, "requests": urls})
        cid = str(created.get("collection_id") or created["id"])
        rid = str(self.call("POST", f"/v1/async/collections/{cid}/run")["run_id"])
        wait_for(
            f"run {rid} to complete",
            lambda: self.call("GET", f"/v1/async/collections/{cid}/runs/{rid}")["status"] == "completed",
            300,
        )
        return cid, rid

    def runs_of(self, cid: str, token: str = TOKEN) -> int:
        """Runs of a collection, asked with its account's token; on a small plan that token's minute
        may be spent by the tasks just before, so a 429 is waited out (the lane's own calls)."""
        deadline = time.monotonic() + 150
        while True:
            try:
                return len(self.call("GET", f"/v1/async/collections/{cid}/runs", token=token)["items"])
            except requests.HTTPError as exc:
                if exc.response is None or exc.response.status_code != 429 or time.monotonic() > deadline:
                    raise
                time.sleep(float(exc.response.headers.get("Retry-After") or 5))

    def log(self, since_seq: int = 0, route: str | None = None) -> list[dict[str, Any]]:
        return self.control.requests(route=route, since_seq=since_seq)

    def last_seq(self) -> int:
        items = self.control.requests()
        return max((int(item["seq"]) for item in items), default=0)


class Stack:
    """Everything the lane starts, in start order; `stop()` stops all of it, newest first."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.postgres = Postgres(home)
        self.redis = Redis(home)
        self.moto = MotoS3(home)
        self.sandbox: Sandbox | None = None
        self.cluster: Cluster | None = None

    def start(self) -> Cluster:
        t0 = time.monotonic()
        self.postgres.start()
        self.postgres.create_db()
        self.redis.start()
        self.moto.start()
        self.moto.make_bucket()
        self.sandbox = sandbox = Sandbox(self.home)
        sandbox.control.set_token(PLAN_TOKEN, plan="growth")
        dags = self.home / "dags"
        dags.mkdir()
        (dags / "sp_distributed.py").symlink_to(HERE / "dags" / "sp_distributed.py")
        self.cluster = cluster = Cluster(self.home, dags, self.airflow_env(sandbox))
        cluster.migrate()
        print(f"services up and DB migrated in {time.monotonic() - t0:.0f} s", flush=True)
        cluster.start("api-server")
        cluster.start("scheduler")
        cluster.start("dag-processor")
        for n, name in enumerate(WORKERS, 1):
            self.start_worker(name, n)
        for name in TRIGGERERS:
            before = len(self.triggerer_jobs())
            self.start_triggerer(name)
            # one after the other, so the job ids map to the names in start order
            wait_for(f"{name}'s job row", self._more_triggerers_than(before), 120)
        wait_for("the API server", cluster.api_up, 120)
        wanted = {"sp_dist_reattach", "sp_dist_export", "sp_dist_many", "sp_dist_race", "sp_dist_plan"}
        wait_for("the DAGs to be parsed", lambda: wanted <= self.dag_ids(), 180)
        wait_for("both Celery workers", self.workers_ready, 120, every=2)
        self.make_pool()
        print(f"cluster up in {time.monotonic() - t0:.0f} s", flush=True)
        return cluster

    def start_triggerer(self, name: str) -> None:
        """triggerer-1 holds at most half of the `many` runs, so they spread over both; it is the one
        the lane kills, and triggerer-2 (capacity 1000) can then hold them all."""
        assert self.cluster is not None
        capacity = str(max(1, MANY // 2)) if name == TRIGGERERS[0] else "1000"
        self.cluster.start("triggerer", "--skip-serve-logs", "--capacity", capacity, name=name)

    def start_worker(self, name: str, n: int) -> None:
        """Each worker on a host of its own when we may (root: a UTS namespace with its own host name),
        as on separate machines: Airflow records the host, the export claim compares it."""
        assert self.cluster is not None
        self.cluster.start(
            "celery worker", "--celery-hostname", f"w{n}@%h", "--concurrency", "2", "--skip-serve-logs",
            name=name, wrap=own_host(f"sp-worker-{n}"),
        )  # fmt: skip

    def airflow_env(self, sandbox: Sandbox) -> dict[str, str]:
        pg = self.postgres
        conn = {"conn_type": "scrapingpros", "host": sandbox.base_url, "password": TOKEN}
        # One request of each window kept per process that may call at once (the pool's slots):
        # their stale views of Remaining then land inside the plan (docs/distributed.md).
        plan = {**conn, "password": PLAN_TOKEN, "extra": {"rate_limit_reserve": PLAN_POOL_SLOTS}}
        aws = {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"endpoint_url": self.moto.endpoint, "region_name": "us-east-1"},
        }
        return {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg.url,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "3",
            "AIRFLOW__CELERY__BROKER_URL": self.redis.url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + pg.url,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__API_AUTH__JWT_SECRET": "sp-distributed-lane-secret",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_S),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            # Airflow's default: a shorter one lets a triggerer whose heartbeat is late on a loaded
            # 2-core machine look dead, and the other takes its triggers before any kill.
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "30",
            "AIRFLOW__TRIGGERER__CAPACITY": "1000",
            "AIRFLOW_CONN_SCRAPINGPROS_DEFAULT": json.dumps(conn),
            "AIRFLOW_CONN_SCRAPINGPROS_PLAN": json.dumps(plan),
            "AIRFLOW_CONN_AWS_S3": json.dumps(aws),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "SP_DIST_BUCKET": MotoS3.BUCKET,
            "SP_DIST_MANY": str(MANY),
            "SP_DIST_PLAN_COLLECTIONS": str(PLAN_COLLECTIONS),
            "SP_DIST_PLAN_JOBS": str(PLAN_JOBS),
            "SP_DIST_PLAN_POOL": PLAN_POOL,
            "SP_DIST_EXPORT_RETRY_DELAY": os.environ.get("SP_DIST_EXPORT_RETRY_DELAY", "2"),
        }

    def make_pool(self) -> None:
        assert self.cluster is not None
        # --include-deferred: a deferred run task keeps its slot, so the pool bounds the triggers'
        # polling too, not only what the workers send
        done = self.cluster.airflow(
            "pools", "set", PLAN_POOL, str(PLAN_POOL_SLOTS), "one ScrapingPros plan", "--include-deferred"
        )
        if done.returncode != 0:
            raise RuntimeError(f"airflow pools set failed: {done.stderr[-2000:]}")

    def dag_ids(self) -> set[str]:
        assert self.cluster is not None
        return {row[0] for row in self.cluster.query("SELECT dag_id FROM dag")}

    def _more_triggerers_than(self, count: int) -> Callable[[], bool]:
        return lambda: len(self.triggerer_jobs()) > count

    def triggerer_jobs(self) -> list[int]:
        assert self.cluster is not None
        rows = self.cluster.query("SELECT id FROM job WHERE job_type = 'TriggererJob' ORDER BY id")
        return [int(row[0]) for row in rows]

    def workers_ready(self) -> bool:
        assert self.cluster is not None
        for name in (*WORKERS, *TRIGGERERS, "scheduler", "api-server", "dag-processor"):
            if not self.cluster.alive(name):
                raise RuntimeError(f"{name} exited: {self.cluster.logs(name)[-1500:]}")
        return self.celery_workers() >= 2

    def celery_workers(self) -> int:
        """Workers answering a Celery ping over the broker."""
        from celery import Celery  # type: ignore[import-untyped,import-not-found,unused-ignore]

        app = Celery(broker=self.redis.url)
        try:
            return len(app.control.ping(timeout=1.0) or [])
        finally:
            app.close()

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop_all()
        if self.sandbox is not None:
            self.sandbox.stop()
        for service in (self.moto, self.redis, self.postgres):
            service.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated scenario names (default: all)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    started = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="sp-distributed-"))
    # The reference exports run in this process: its Airflow config is its own (never the cluster's
    # AIRFLOW_HOME, whose processes are killed at the end), with the same connections.
    os.environ["AIRFLOW_HOME"] = str(home / "lane-airflow")
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home}/lane-airflow/airflow.db"
    stack = Stack(home)
    rows: list[Row] = []
    lane: Lane | None = None
    try:
        cluster = stack.start()
        for key, value in cluster.env.items():
            if key.startswith(("AIRFLOW_CONN_", "AWS_")):
                os.environ[key] = value
        assert stack.sandbox is not None
        lane = Lane(stack, cluster, stack.sandbox)
        wanted = [name for name in args.only.split(",") if name]
        for name, scenario in lane.scenarios():
            if not wanted or name in wanted:
                rows.extend(run_scenario(name, scenario))
                print(f"[{time.monotonic() - started:.0f} s] {name} done", flush=True)
    except Exception as exc:
        traceback.print_exc()
        rows.append(("lane", "cluster started", f"{type(exc).__name__}: {exc}"[:110], False))
    finally:
        stack.stop()
    wall = time.monotonic() - started
    print_table(rows)
    print(f"wall time: {wall:.0f} s ({wall / 60:.1f} min)")
    ok = bool(rows) and all(row[3] for row in rows)
    if not ok and stack.cluster is not None:
        for name in ("scheduler", *WORKERS, *TRIGGERERS):
            print(f"----- {name} (last 2500 chars)\n{stack.cluster.logs(name)[-2500:]}")
    if not ok:  # again, last: CI shows only the end of the output, after the log tails above
        print("FAILED rows:")
        for name, checked, figure, passed in rows:
            if not passed:
                print(f"  {name}: {checked}: {figure}")
    if args.keep or not ok:
        print(f"files kept in {home}")
    else:
        import shutil

        shutil.rmtree(home, ignore_errors=True)
    return 0 if ok else 1


def run_scenario(name: str, scenario: Callable[[], list[Row]]) -> list[Row]:
    try:
        return scenario()
    except Exception as exc:  # one broken scenario is a FAIL row, and the others still run
        traceback.print_exc()
        return [(name, "ran to the end", f"{type(exc).__name__}: {exc}"[:110], False)]


def print_table(rows: list[Row]) -> None:
    widths = [max([len(str(row[i])) for row in rows] + [8]) for i in range(3)]
    print(f"{'scenario':<{widths[0]}}  {'checked':<{widths[1]}}  {'figure':<{widths[2]}}  result")
    for name, checked, figure, ok in rows:
        print(
            f"{name:<{widths[0]}}  {checked:<{widths[1]}}  {figure:<{widths[2]}}  {'PASS' if ok else 'FAIL'}"
        )


class Lane:
    def __init__(self, stack: Stack, cluster: Cluster, sandbox: Sandbox) -> None:
        self.stack, self.cluster, self.sandbox = stack, cluster, sandbox
        self.moto = stack.moto
        self.http = requests.Session()

    def scenarios(self) -> list[tuple[str, Callable[[], list[Row]]]]:
        return [
            ("reattach", self.reattach),
            ("export", self.export_kill),
            ("triggerer", self.triggerer_kill),
            ("plan", self.plan),
            ("race", self.race),
            ("database", self.database_restart),
        ]

    # ------------------------------------------------------------------------------ Airflow side
    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Start a DAG run through the public REST API (all-admins auth on this loopback cluster)."""
        answer = self.http.post(
            f"{self.cluster.api_url}/api/v2/dags/{dag_id}/dagRuns",
            json={"logical_date": None, "conf": conf or {}},
            timeout=60,
        )
        if answer.status_code >= 300:
            raise RuntimeError(f"triggering {dag_id}: {answer.status_code} {answer.text[:300]}")
        return str(answer.json()["dag_run_id"])

    def dag_run_state(self, dag_id: str, run_id: str) -> str:
        rows = self.cluster.query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", dag_id, run_id)
        return str(rows[0][0]) if rows else "?"

    def finished(self, dag_id: str, run_id: str, timeout: float = 300) -> str:
        return wait_for(  # type: ignore[return-value]
            f"{dag_id} {run_id} to finish",
            lambda: (s := self.dag_run_state(dag_id, run_id)) in ("success", "failed") and s,
            timeout,
        )

    def tis(self, dag_id: str, run_id: str, task_id: str | None = None) -> list[dict[str, Any]]:
        sql = (
            "SELECT task_id, map_index, state, try_number, pid, hostname FROM task_instance"
            " WHERE dag_id = ? AND run_id = ?"
        )
        params: list[Any] = [dag_id, run_id]
        if task_id is not None:
            sql += " AND task_id = ?"
            params.append(task_id)
        keys = ("task_id", "map_index", "state", "try_number", "pid", "hostname")
        return [dict(zip(keys, row, strict=True)) for row in self.cluster.query(sql, *params)]

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> list[Any]:
        rows = self.cluster.query(
            "SELECT map_index, value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ?"
            " AND key = 'return_value' ORDER BY map_index",
            dag_id,
            run_id,
            task_id,
        )
        return [_json(value) for _, value in rows]

    def worker_running(self, pid: int | None) -> str | None:
        """Which of our Celery workers a task process belongs to (by its process group)."""
        if not pid:
            return None
        roots = {self.cluster.pid(name): name for name in WORKERS}
        current: int | None = int(pid)
        while current and current > 1:
            if current in roots:
                return roots[current]
            current = _ppid(current)
        return None

    def kill(self, name: str) -> None:
        """kill -9 a component and every process under it, as if its machine died: Airflow's task
        supervisor starts the task process in a session of its own, so a process group is not enough."""
        root = self.cluster.pid(name)
        if root is not None:
            for sig in (signal.SIGSTOP, signal.SIGKILL):  # freeze the tree first: nothing forks or reports
                for pid in [root, *_descendants(root)]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, sig)
        self.cluster.stop(name, signal.SIGKILL, timeout=10)

    def task_logs(self, dag_id: str, run_id: str, task_id: str) -> str:
        root = self.cluster.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return "".join(p.read_text(errors="replace") for p in sorted(root.rglob("*.log")))

    # ------------------------------------------------------------------------------ S3 side
    def reference_export(self, cid: str, rid: str, destination: str, layout: str, **options: Any) -> None:
        """A clean export of the same run, in this process, the same operator with no interruption."""
        from airflow_provider_scrapingpros.operators.export import ScrapingProsExportResultsOperator
        from tests.task_context import context_for

        ScrapingProsExportResultsOperator(
            task_id="reference",
            collection_id=cid,
            run_id=rid,
            destination=destination,
            storage_conn_id="aws_s3",
            layout=layout,  # type: ignore[arg-type]
            follow=False,
            **options,
        ).execute(context_for())

    def compare(self, ours: str, clean: str) -> tuple[str, bool]:
        a, b = self.moto.tree(ours), self.moto.tree(clean)
        if a and a == b:
            return f"identical ({len(a)} objects)", True
        differ = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        return f"{len(a)} vs {len(b)} objects, {len(differ)} differ (e.g. {differ[:2]})", False

    def one_version_per_key(self, prefix: str) -> tuple[str, bool]:
        current = set(self.moto.tree(prefix))
        versions = self.moto.versions(prefix)
        final = {k: v for k, v in versions.items() if k in current}
        extra = sorted(k for k, v in final.items() if v > 1)
        gone = sorted(k for k in versions if k not in current)  # the deleted `_export/` state
        figure = f"{len(extra)} of {len(final)} keys with >1 version; {len(gone)} state keys deleted"
        return figure, not extra and bool(final)

    def manifest_complete(self, prefix: str, jobs: int) -> tuple[str, bool]:
        tree = self.moto.tree(prefix)
        lines = [json.loads(line) for line in tree.get("_manifest.jsonl", b"").decode().splitlines() if line]
        ids = {line.get("job_id") for line in lines}
        marker = _json(tree.get("_SUCCESS.json", b"{}").decode())
        counted = (marker.get("counts") or {}).get("jobs", marker.get("jobs"))
        ok = len(lines) == jobs and len(ids) == jobs and "_SUCCESS.json" in tree
        return f"{len(lines)} lines, {len(ids)} job ids of {jobs}; _SUCCESS jobs={counted}", ok

    # ---------------------------------------------------------------------------------- scenarios
    def reattach(self) -> list[Row]:
        """(3) kill -9 the worker between POST …/run and the defer."""
        # The run task's first check of its run (right after the POST) is held 20 s by the sandbox:
        # a window, wide and sure, in which the run exists and the task has not deferred yet.
        self.sandbox.control.set_faults({"rules": [{"match": GET_RUN_ROUTE, "latency_ms": 20000}]})
        seq = self.sandbox.last_seq()
        run_id = self.trigger("sp_dist_reattach")
        posted = wait_for(
            "POST …/run",
            lambda: (
                [r for r in self.sandbox.log(seq, RUN_ROUTE) if r["status"] and r["status"] < 300] or None
            ),
            180,
            every=0.2,
        )
        time.sleep(0.5)  # the answer is on its way to the task; its GET is now held
        (ti,) = self.tis("sp_dist_reattach", run_id, "run")
        victim = self.worker_running(ti["pid"])
        if victim is None:
            raise RuntimeError(f"no worker of ours runs the run task: {ti}")
        self.kill(victim)
        self.sandbox.control.set_faults({"rules": []})
        state = self.finished("sp_dist_reattach", run_id, 240)
        (ti,) = self.tis("sp_dist_reattach", run_id, "run")
        cid = posted[0]["path"].split("/")[4]
        runs = self.sandbox.runs_of(cid)
        posts = len([r for r in self.sandbox.log(seq, RUN_ROUTE) if cid in r["path"]])
        self.stack.start_worker(victim, WORKERS.index(victim) + 1)
        return [
            ("reattach", f"DAG run after kill -9 of {victim}", f"{state}, run task try {ti['try_number']}",
             state == "success" and ti["try_number"] >= 2),
            ("reattach", "runs of the collection on the sandbox", str(runs), runs == 1),
            ("reattach", "POST …/run sent for it", str(posts), posts == 1),
        ]  # fmt: skip

    def export_kill(self) -> list[Row]:
        """(2) kill -9 the worker while the export writes; the retry resumes on the other worker."""
        cid, rid = self.sandbox.finished_run("export-kill", EXPORT_JOBS)
        prefix = "kill/"
        run_id = self.trigger(
            "sp_dist_export",
            {"collection_id": cid, "run_id": rid, "destination": f"s3://{MotoS3.BUCKET}/{prefix}"},
        )
        wait_for(
            "the export to have written a fifth of the run",
            lambda: self.moto.count(prefix) >= EXPORT_JOBS // 5,
            240,
            every=0.5,
        )
        written = self.moto.count(prefix)
        (ti,) = self.tis("sp_dist_export", run_id, "export")
        victim = self.worker_running(ti["pid"])
        if victim is None:
            raise RuntimeError(f"no worker of ours runs the export: {ti}")
        self.kill(victim)
        state = self.finished("sp_dist_export", run_id, 400)
        (ti,) = self.tis("sp_dist_export", run_id, "export")
        self.stack.start_worker(victim, WORKERS.index(victim) + 1)
        self.reference_export(cid, rid, f"s3://{MotoS3.BUCKET}/clean/", "files", max_concurrency=4)
        same, same_ok = self.compare(prefix, "clean/")
        versions, versions_ok = self.one_version_per_key(prefix)
        manifest, manifest_ok = self.manifest_complete(prefix, EXPORT_JOBS)
        return [
            ("export", f"DAG run ({EXPORT_JOBS} jobs; {victim} killed at {written} objects)",
             f"{state}, try {ti['try_number']}", state == "success" and ti["try_number"] >= 2),
            ("export", "objects = a clean export of the run", same, same_ok),
            ("export", "S3 versions per key", versions, versions_ok),
            ("export", "manifest complete", manifest, manifest_ok),
        ]  # fmt: skip

    def wait_deferred(self, dag_id: str, run_id: str, count: int) -> None:
        wait_for(
            f"{count} run tasks deferred",
            lambda: sum(t["state"] == "deferred" for t in self.tis(dag_id, run_id, "run")) >= count,
            300,
            every=1,
        )

    def triggerer_heartbeat_ages(self) -> str:
        rows = self.cluster.query(
            "SELECT id, round(extract(epoch FROM now() - latest_heartbeat)) FROM job"
            " WHERE job_type = 'TriggererJob' ORDER BY id"
        )
        return ", ".join(f"job {row[0]}: {row[1]} s" for row in rows)

    def triggers_by_triggerer(self) -> Counter[int | None]:
        return Counter(row[0] for row in self.cluster.query("SELECT triggerer_id FROM trigger"))

    def held_runs_outcome(self, dag_id: str, run_id: str, seq: int, scenario: str) -> list[Row]:
        """Release the held runs (advance the sandbox clock), then check every task and the runs."""
        self.sandbox.control.advance(3700)
        state = self.finished(dag_id, run_id, 300)
        tis = self.tis(dag_id, run_id, "run")
        ok_tis = sum(t["state"] == "success" for t in tis)
        cids = [c for c in self.xcom(dag_id, run_id, "create") if isinstance(c, str)]
        posts = [r for r in self.sandbox.log(seq, RUN_ROUTE) if any(c in r["path"] for c in cids)]
        runs = sum(self.sandbox.runs_of(c) for c in cids)
        polls = len(self.sandbox.log(seq, GET_RUN_ROUTE))
        tries = Counter(t["try_number"] for t in tis)
        return [
            (scenario, "run tasks success", f"{ok_tis}/{len(tis)} (DAG run {state})",
             ok_tis == len(tis) == MANY and state == "success"),
            (scenario, "runs on the sandbox / POST …/run", f"{runs}/{len(posts)} for {len(cids)} collections",
             runs == len(posts) == len(cids) == MANY),
            (scenario, "run polls (GET run) in all", f"{polls} ({polls / max(1, MANY):.1f} per run); tries "
             + ",".join(f"{k}:{v}" for k, v in sorted(tries.items())), True),
        ]  # fmt: skip

    def triggerer_kill(self) -> list[Row]:
        """(4) runs deferred across both triggerers; kill -9 the busier one."""
        seq = self.sandbox.last_seq()
        run_id = self.trigger("sp_dist_many")
        self.wait_deferred("sp_dist_many", run_id, MANY)
        wait_for("every trigger to be assigned", lambda: None not in self.triggers_by_triggerer(), 60)
        before = self.triggers_by_triggerer()
        jobs = dict(zip(self.stack.triggerer_jobs()[: len(TRIGGERERS)], TRIGGERERS, strict=False))
        # only the triggerers started first are ours by name; any restarted later have new job ids
        victim = TRIGGERERS[0]  # capped at half the triggers: the survivor can take them all
        survivor_job = next(job for job, name in jobs.items() if name != victim)
        spread = "/".join(f"{before.get(job, 0)}" for job in jobs)
        spread_ok = all(before.get(job, 0) > 0 for job in jobs)
        if not spread_ok:  # say why: a late heartbeat makes a triggerer look dead to the other
            spread += "; heartbeat ages " + self.triggerer_heartbeat_ages()
        self.kill(victim)
        wait_for(
            f"{TRIGGERERS[1 - TRIGGERERS.index(victim)]} to take every trigger over",
            lambda: set(self.triggers_by_triggerer()) == {survivor_job},
            90,
        )
        rows = self.held_runs_outcome("sp_dist_many", run_id, seq, "triggerer")
        self.stack.start_triggerer(victim)
        return [
            ("triggerer", f"{MANY} triggers spread over triggerer 1/2, {victim} killed", spread, spread_ok),
            ("triggerer", "survivor holds every trigger", "yes", True),
            *rows,
        ]  # fmt: skip

    def database_restart(self) -> list[Row]:
        """(6) PostgreSQL stopped and started again while runs are deferred."""
        seq = self.sandbox.last_seq()
        run_id = self.trigger("sp_dist_many")
        self.wait_deferred("sp_dist_many", run_id, MANY)
        pg = self.stack.postgres
        t0 = time.monotonic()
        pg.stop()
        time.sleep(5)
        pg.start()
        down = time.monotonic() - t0
        time.sleep(10)  # the components notice, reconnect (or exit)
        dead = [name for name in list(self.cluster.procs) if not self.cluster.alive(name)]
        for name in dead:  # what a supervisor (systemd Restart=, Kubernetes) would do
            if name in WORKERS:
                self.stack.start_worker(name, WORKERS.index(name) + 1)
            elif name in TRIGGERERS:
                self.stack.start_triggerer(name)
            else:
                self.cluster.start(name)
        rows = self.held_runs_outcome("sp_dist_many", run_id, seq, "database")
        return [
            ("database", f"components exited after a {down:.0f} s outage (restarted)",
             ",".join(dead) or "none", True),
            *rows,
        ]  # fmt: skip

    def race(self) -> list[Row]:
        """(5) two export tasks of one run into one destination at once, in both layouts."""
        cid, rid = self.sandbox.finished_run("race", RACE_JOBS)
        dest = {layout: f"s3://{MotoS3.BUCKET}/race/{layout}/" for layout in ("files", "jsonl")}
        run_id = self.trigger("sp_dist_race", {"collection_id": cid, "run_id": rid, **dest})
        state = self.finished("sp_dist_race", run_id, 400)
        tis = {t["task_id"]: t for t in self.tis("sp_dist_race", run_id)}
        rows: list[Row] = []
        for layout in ("files", "jsonl"):
            self.reference_export(
                cid, rid, f"s3://{MotoS3.BUCKET}/race-clean/{layout}/", layout, max_concurrency=4,
                part_max_records=500,
            )  # fmt: skip
            same, same_ok = self.compare(f"race/{layout}/", f"race-clean/{layout}/")
            pair = [tis.get(f"{layout}_{a}", {}) for a in ("a", "b")]
            outcomes = [f"{t.get('state')}/try {t.get('try_number')}" for t in pair]
            errors = Counter(e for a in ("a", "b") for e in self._errors(run_id, f"{layout}_{a}"))
            raw = {e: n for e, n in errors.items() if e not in CLEAR_ERRORS}
            rows += [
                ("race", f"{layout}: output = a clean export", same, same_ok),
                ("race", f"{layout}: final state of both tasks", ", ".join(outcomes),
                 all(t.get("state") == "success" for t in pair)),  # the loser waits, then finds it done
                ("race", f"{layout}: errors of the losing tries",
                 ", ".join(f"{e} x{n}" for e, n in errors.items()) or "none", not raw),
            ]  # fmt: skip
        rows.append(("race", "DAG run", state, state == "success"))
        return rows

    def _errors(self, run_id: str, task_id: str) -> list[str]:
        """The exception class each failed try of a task ended with (from its structured log)."""
        import re

        text = self.task_logs("sp_dist_race", run_id, task_id)
        failed = [line for line in text.splitlines() if "Task failed with exception" in line]
        return [m.group(1) if (m := re.search(r'"exc_type":"([^"]+)"', line)) else "?" for line in failed]

    def plan(self) -> list[Row]:
        """(1) one token on the Growth plan (60 req/min), 20 mapped collections, both workers."""
        self.sandbox.control.clear_requests()
        run_id = self.trigger("sp_dist_plan")
        state = self.finished("sp_dist_plan", run_id, 600)
        tis = self.tis("sp_dist_plan", run_id)
        failed = [t for t in tis if t["state"] != "success"]
        retried = [t for t in tis if (t["try_number"] or 1) > 1]
        log = [r for r in self.sandbox.log(0) if r["token"] and PLAN_TOKEN[-4:] in str(r["token"])] or [
            r for r in self.sandbox.log(0)
        ]
        per_window = Counter(int(float(r["sandbox_time"]) // 60) for r in log)
        accepted_window = Counter(int(float(r["sandbox_time"]) // 60) for r in log if r["status"] != 429)
        sliding = _max_sliding(sorted(float(r["wall_time"]) for r in log), 60.0)
        refused = sum(r["status"] == 429 for r in log)
        cids = [c for c in self.xcom("sp_dist_plan", run_id, "create") if isinstance(c, str)]
        runs = sum(self.sandbox.runs_of(c, PLAN_TOKEN) for c in cids)
        complete = sum(
            "_SUCCESS.json" in self.moto.tree(f"plan/{e['run_id']}/")
            for e in self.xcom("sp_dist_plan", run_id, "export")
            if isinstance(e, dict)
        )
        worst = max(per_window.values(), default=0)
        shape = f"{len(tis)} tasks ({PLAN_COLLECTIONS}x{PLAN_JOBS} jobs)"
        shape += f", pool {PLAN_POOL_SLOTS} slots incl. deferred"
        return [
            ("plan", shape,
             f"{len(tis) - len(failed)} success, {len(retried)} retried (DAG run {state})",
             not failed and state == "success"),
            ("plan", f"requests per sandbox minute window (limit {PLAN_RPM})",
             f"max {worst} sent, {max(accepted_window.values(), default=0)} accepted; {len(log)} in all",
             worst <= PLAN_RPM),
            # the plan's windows are fixed minutes: two halves of adjacent windows may hold up to 2x
            ("plan", "requests in any sliding 60 s (fixed windows: info)", str(sliding), True),
            ("plan", "429 answers (each waited out, none failed a task)", str(refused), not failed),
            ("plan", "runs on the sandbox", f"{runs} for {len(cids)} collections",
             runs == len(cids) == PLAN_COLLECTIONS),
            ("plan", "exports complete (_SUCCESS.json)", f"{complete}/{PLAN_COLLECTIONS}",
             complete == PLAN_COLLECTIONS),
        ]  # fmt: skip


def own_host(hostname: str) -> list[str]:
    """A command prefix running the rest under its own host name, or [] when we cannot (not root)."""
    import shutil

    if os.geteuid() != 0 or shutil.which("unshare") is None or SAME_HOST:
        return []
    return ["unshare", "--uts", "--", "sh", "-c", f'hostname {hostname} && exec "$@"', "sh"]


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for proc_dir in Path("/proc").glob("[0-9]*"):
        parent = _ppid(int(proc_dir.name))
        if parent is not None:
            children.setdefault(parent, []).append(int(proc_dir.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _max_sliding(times: list[float], width: float) -> int:
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] < t - width:
            start += 1
        best = max(best, end - start + 1)
    return best


def _json(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode()
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


if __name__ == "__main__":
    sys.exit(main())
