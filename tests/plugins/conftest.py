"""One real Airflow API server per session, with the webhook plugin loaded from its entry point.

Order matters and is the cheapest reliable one found: start the sandbox and create the collections
first (their ids go into the DAG file), write the DAG file, `airflow db migrate`, `airflow dags
reserialize` (parses the DAG folder and writes the AssetModel rows plus the schedule references —
no DAG processor or scheduler needed), then `airflow api-server`. Everything runs in its own
AIRFLOW_HOME with a SQLite DB and the default (simple) auth manager, so the core API needs a token
while the webhook endpoint must work without one. The connection comes from AIRFLOW_CONN_* env.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_scrapingpros.runs.completion import announced_run_id, collection_uri
from airflow_provider_scrapingpros.sandbox import Sandbox, SandboxConfig
from tests.sandbox.helpers import create_collection, http, url

SECRET = "whsec_plugin_test_3f9a"  # the sandbox signs with it; the connection holds it
TOKEN = "sp_sandbox_dev"
CONN_ID = "sp_hooks"
START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Stack:
    api_url: str  # the Airflow API server
    sandbox: Sandbox
    db: Path
    log: Path
    watched: str  # a collection some DAG is scheduled on; its callback_url is the plugin
    unwatched: str  # a collection no DAG declares; same callback_url
    outlet_only: str  # a collection whose Asset exists only as a task outlet
    start_s: float  # how long the fixture took to bring everything up

    def hook_url(self, conn_id: str = CONN_ID) -> str:
        return f"{self.api_url}/scrapingpros/webhooks/{conn_id}"

    def uri(self, collection_id: str) -> str:
        return collection_uri(self.sandbox.base_url, collection_id)

    def events(self, collection_id: str | None = None) -> list[tuple[int, dict[str, Any]]]:
        """(id, extra) of every Asset event, or of one collection's Asset, read from the DB."""
        query = "SELECT e.id, e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id"
        args: tuple[str, ...] = ()
        if collection_id is not None:
            query, args = query + " WHERE a.uri = ?", (self.uri(collection_id),)
        with sqlite3.connect(self.db) as db:
            rows = db.execute(query + " ORDER BY e.id", args).fetchall()
        return [(int(event_id), json.loads(extra)) for event_id, extra in rows]

    def run_events(self, run_id: str) -> list[tuple[int, dict[str, Any]]]:
        return [(i, extra) for i, extra in self.events() if announced_run_id(extra) == run_id]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _dag_file(base_url: str, watched: str, outlet_only: str) -> str:
    return textwrap.dedent(
        f"""
        from airflow.sdk import DAG
        from airflow.providers.standard.operators.empty import EmptyOperator

        from airflow_provider_scrapingpros.assets import collection_asset

        BASE = {base_url!r}
        with DAG("sp_webhook_watcher", schedule=[collection_asset({watched!r}, base_url=BASE)]):
            EmptyOperator(task_id="noop")
        with DAG("sp_webhook_producer", schedule=None):
            EmptyOperator(task_id="produce", outlets=[collection_asset({outlet_only!r}, base_url=BASE)])
        """
    )


def _airflow(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"airflow {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def _wait_up(api_url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API server exited with {proc.returncode}:\n{log.read_text()[-5000:]}")
        try:
            if httpx.get(f"{api_url}/api/v2/monitor/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the API server did not answer in {START_TIMEOUT_S:.0f}s:\n{log.read_text()[-5000:]}")


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    started = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="sp-plugin-home-"))
    (home / "dags").mkdir()
    sandbox = Sandbox(SandboxConfig(port=0, time_scale=0.001, webhook_secret=SECRET)).start()
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}"
    hook = f"{api_url}/scrapingpros/webhooks/{CONN_ID}"
    with http(sandbox.base_url) as api:
        ids = [
            str(
                create_collection(
                    api, [{"url": url(f"plugin/{name}")}], name=f"plugin-{name}", callback_url=hook
                )["id"]
            )
            for name in ("watched", "unwatched", "outlet-only")
        ]
    watched, unwatched, outlet_only = ids
    (home / "dags" / "sp_webhooks.py").write_text(_dag_file(sandbox.base_url, watched, outlet_only))
    db = home / "airflow.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{db}",
        AIRFLOW__API_AUTH__JWT_SECRET="plugin-test-jwt-secret",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(home / "passwords.json"),
    )
    conn = {"conn_type": "scrapingpros", "host": sandbox.base_url, "password": TOKEN}
    env["AIRFLOW_CONN_SP_HOOKS"] = json.dumps({**conn, "extra": {"webhook_secret": SECRET}})
    env["AIRFLOW_CONN_SP_NOSECRET"] = json.dumps({**conn, "extra": {}})
    env["AIRFLOW_CONN_SP_HTTP"] = json.dumps({"conn_type": "http", "host": "example.com", "extra": {}})
    _airflow(env, "db", "migrate")
    _airflow(env, "dags", "reserialize")
    log = home / "api-server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_up(api_url, proc, log)
        yield Stack(api_url, sandbox, db, log, watched, unwatched, outlet_only, time.monotonic() - started)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        sandbox.stop()


@pytest.fixture
def admin_token(stack: Stack) -> str:
    """A core-API token of the simple auth manager's generated admin password."""
    password = json.loads((stack.db.parent / "passwords.json").read_text())["admin"]
    resp = httpx.post(f"{stack.api_url}/auth/token", json={"username": "admin", "password": password})
    assert resp.status_code in (200, 201), resp.text
    token: str = resp.json()["access_token"]
    return token
