"""A small Airflow on loopback, one process per component, so a lane can stop and restart one of them
(the triggerer, mid-watch) the way an operator's deploy or a crash would.

SQLite + LocalExecutor (what `airflow standalone` runs); each component in its own session (setsid),
so stopping one stops its children too; everything started is stopped at the end, pass or fail,
and any process left with this AIRFLOW_HOME in its environment is killed.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, every: float = 1.0) -> T:
    """Poll `probe` until it returns something other than None/False; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def stop_session(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Signal a process started with `start_new_session=True` and its whole session; SIGKILL it
    if it has not ended after `timeout`."""
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=timeout)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


class Cluster:
    def __init__(self, home: Path, dags_folder: Path, extra_env: Mapping[str, str]) -> None:
        self.home = home
        self.api_port = free_port()
        self.env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            # workers reach the execution API at localhost:8080 by default; point them at our port
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
            "AIRFLOW__CORE__PARALLELISM": "4",  # 2 cores: a few workers, not 32
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            **extra_env,
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.starts: dict[str, int] = {}

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def airflow(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "airflow", *args], env=self.env, capture_output=True, text=True
        )

    def migrate(self) -> None:
        done = self.airflow("db", "migrate")
        if done.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{done.stderr[-4000:]}")

    def start(
        self,
        component: str,
        *args: str,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
        wrap: Sequence[str] = (),
    ) -> None:
        """Start `airflow <component> <args…>` (component may be two words: "celery worker").

        `name` keys the process (for stop/logs) when one component runs twice, e.g. two triggerers;
        `env` adds variables for this process only (its log-server port, its hostname); `wrap` is a
        command prefix that must exec the rest (e.g. `unshare --uts` to give it a host name of its own),
        so the PID kept is still the component's.
        """
        key = name or component
        count = self.starts[key] = self.starts.get(key, 0) + 1
        log = (self.home / f"{key}.{count}.log").open("wb")
        self.procs[key] = subprocess.Popen(
            [*wrap, sys.executable, "-m", "airflow", *component.split(), *args],
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self, component: str, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        proc = self.procs.pop(component, None)
        if proc is not None:
            stop_session(proc, sig, timeout)

    def stop_all(self) -> None:
        for component in list(self.procs):
            self.stop(component)
        self._kill_strays()

    def _kill_strays(self) -> None:
        """Belt and braces: any process still running with this AIRFLOW_HOME left its session."""
        marker = f"AIRFLOW_HOME={self.home}".encode()
        # setproctitle can overwrite the environment block: an API server worker retitled
        # "airflow api_server -- host:… port:<ours>" shows none, so its title names it instead
        title = f"port:{self.api_port}".encode()
        for proc_dir in Path("/proc").glob("[0-9]*"):
            try:
                environ = (proc_dir / "environ").read_bytes().split(b"\0")
                words = (proc_dir / "cmdline").read_bytes().replace(b"\0", b" ").split()
                if marker in environ or (b"api_server" in words and title in words):
                    os.kill(int(proc_dir.name), signal.SIGKILL)
            except (OSError, ValueError):
                continue

    def logs(self, component: str) -> str:
        return "".join(
            path.read_text(errors="replace") for path in sorted(self.home.glob(f"{component}.*.log"))
        )

    def pid(self, name: str) -> int | None:
        """PID (= process group id) of a running component, None when it is not running."""
        proc = self.procs.get(name)
        return proc.pid if proc is not None and proc.poll() is None else None

    def alive(self, name: str) -> bool:
        return self.pid(name) is not None

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the metadata DB directly: CLI output mixes log lines into stdout.

        SQLite by default; on PostgreSQL (SQL_ALCHEMY_CONN postgresql…) the same `?` placeholders work.
        """
        url = self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        if url.startswith("postgresql"):
            return _pg_query(url, sql.replace("?", "%s"), params)
        with sqlite3.connect(f"file:{self.home}/airflow.db?mode=ro", uri=True, timeout=30) as db:
            return db.execute(sql, params).fetchall()

    def api_up(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.api_port)) == 0


def _pg_query(url: str, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    # the distributed extra; only needed when the metadata DB is PostgreSQL
    import psycopg2  # type: ignore[import-untyped,import-not-found,unused-ignore]

    db = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://", 1), connect_timeout=10)
    try:
        with db.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())
    finally:
        db.close()
