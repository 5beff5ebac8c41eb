"""CI lane: one deferrable DAG under a real scheduler + triggerer (`airflow standalone`), proving the
trigger works outside `dag.test()`.

The sandbox runs in this process; `airflow standalone` runs in its own session (setsid) so the whole
process group — scheduler, dag processor, triggerer, api-server, workers — is stopped together.
Exit status 0 only if the DAG run succeeded, its run task was deferred to the triggerer, and the
sandbox saw exactly one run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from airflow_provider_scrapingpros.sandbox import Sandbox, SandboxConfig

DAG_ID = "sp_standalone"
HERE = Path(__file__).parent
DEADLINE_S = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def airflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True)


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="sp-standalone-"))
    api_port = free_port()
    sandbox = Sandbox(SandboxConfig(port=0, time_scale=0.02)).start()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(HERE / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        # workers reach the execution API at localhost:8080 by default; point them at our port
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__CORE__PARALLELISM": "4",  # 2 cores: a few workers, not 32
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        "AIRFLOW_CONN_SCRAPINGPROS_DEFAULT": json.dumps(
            {"conn_type": "scrapingpros", "host": sandbox.base_url, "password": "sp_sandbox_dev"}
        ),
    }
    log_path = home / "standalone.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "airflow", "standalone"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        state = wait_for_success(env)
        output = log_path.read_text(errors="replace")
        deferred = task_was_deferred(env)
        runs = sandbox.control.stats()["runs"]
        print(f"standalone lane: dag run state={state}, trigger seen={deferred}, sandbox runs={runs}")
        ok = state == "success" and deferred and runs == 1
        if not ok:
            print(output[-8000:])
        return 0 if ok else 1
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        kill_strays(str(home))
        sandbox.stop()


def kill_strays(home: str) -> None:
    """Belt and braces: any process still running with this AIRFLOW_HOME left the process group."""
    marker = f"AIRFLOW_HOME={home}".encode()
    for proc_dir in Path("/proc").glob("[0-9]*"):
        try:
            if marker in (proc_dir / "environ").read_bytes().split(b"\0"):
                os.kill(int(proc_dir.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue


def task_was_deferred(env: dict[str, str]) -> bool:
    """The triggerer, not a worker, waited: it wrote a trigger log for the run task with our event."""
    logs = Path(env["AIRFLOW_HOME"]) / "logs"
    trigger_logs = [p for p in logs.rglob("*.log.trigger.*") if "task_id=run" in str(p)]
    text = "".join(p.read_text(errors="replace") for p in trigger_logs)
    return "Trigger fired event" in text and "'status': 'success'" in text


def wait_for_success(env: dict[str, str]) -> str:
    started = time.monotonic()
    triggered = False
    state = "not triggered"
    while time.monotonic() - started < DEADLINE_S:
        time.sleep(3)
        if not triggered:
            triggered = airflow(env, "dags", "trigger", DAG_ID).returncode == 0
            continue
        # Read the metadata DB directly: CLI output mixes log lines into stdout.
        with sqlite3.connect(f"{env['AIRFLOW_HOME']}/airflow.db") as db:
            row = db.execute("SELECT state FROM dag_run WHERE dag_id = ?", (DAG_ID,)).fetchone()
        state = row[0] if row else "not created"
        if state in ("success", "failed"):
            return state
    return f"timed out ({state})"


if __name__ == "__main__":
    sys.exit(main())
