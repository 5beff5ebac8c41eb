"""CI lane: a real Airflow (API server, scheduler, DAG processor, triggerer; LocalExecutor on SQLite)
against the sandbox on loopback, proving what `dag.test()` cannot:

1. a deferrable run task waits in the triggerer, and exactly one run is started;
2. a run started directly on the sandbox (no Airflow task) is seen by the watcher
   (`example_scrapingpros_watch_collection`), and the export DAG writes what an export told the ids
   writes, byte for byte;
3. the sandbox's signed webhook reaches the plugin in the API server (auth left on), also when the
   sandbox redelivers, and the export DAG (`example_scrapingpros_webhook_export`) runs once;
4. a forged delivery is refused and records nothing;
5. the triggerer restarted mid-watch: 20 runs, 0 duplicate and 0 missed events.

Prints one table (scenario, what was checked, figure, PASS/FAIL); exit status 0 only if all pass.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from airflow_provider_scrapingpros.runs.completion import announced_run_id
from airflow_provider_scrapingpros.sandbox import Sandbox, SandboxConfig
from airflow_provider_scrapingpros.triggers.events import EVENT_PERSIST_WAIT_S
from tests.standalone.cluster import COMPONENTS, Cluster, wait_for

HERE = Path(__file__).parent
EXAMPLES = HERE.parents[1] / "example_dags"
TOKEN = "sp_sandbox_dev"
WATCH_DAG, WEBHOOK_DAG = "example_scrapingpros_watch_collection", "example_scrapingpros_webhook_export"
POLL_S = 2.0  # the watcher's interval here; a minute by default
Row = tuple[str, str, str, bool]


class SandboxApi:
    """The lane acting as 'another team': runs started on the sandbox with plain HTTP, no Airflow."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {TOKEN}"

    def collection(self, name: str, callback_url: str | None = None) -> str:
        urls = [{"url": f"https://example.com/{name}/{i}?sp_latency_ms=50000"} for i in range(5)]
        body: dict[str, Any] = {"name": name, "requests": urls}
        if callback_url:
            body["callback_url"] = callback_url
        answer = self.http.post(f"{self.sandbox.base_url}/v1/async/collections", json=body, timeout=30)
        answer.raise_for_status()
        return str(answer.json()["id"])

    def start_run(self, collection_id: str) -> str:
        url = f"{self.sandbox.base_url}/v1/async/collections/{collection_id}/run"
        answer = self.http.post(url, timeout=30)
        answer.raise_for_status()
        return str(answer.json()["run_id"])

    def run_status(self, collection_id: str, run_id: str) -> str:
        url = f"{self.sandbox.base_url}/v1/async/collections/{collection_id}/runs/{run_id}"
        return str(self.http.get(url, timeout=30).json()["status"])


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="sp-standalone-"))
    dags = home / "dags"
    dags.mkdir()
    (dags / "sp_standalone.py").symlink_to(HERE / "dags" / "sp_standalone.py")
    for dag_id in (WATCH_DAG, WEBHOOK_DAG):
        (dags / f"{dag_id}.py").symlink_to(EXAMPLES / f"{dag_id}.py")
    sandbox = Sandbox(SandboxConfig(port=0, time_scale=0.02)).start()
    api = SandboxApi(sandbox)
    conn = json.dumps(
        {
            "conn_type": "scrapingpros",
            "host": sandbox.base_url,
            "password": TOKEN,
            "extra": {"webhook_secret": sandbox.config.webhook_secret},
        }
    )
    os.environ["AIRFLOW_CONN_SCRAPINGPROS_DEFAULT"] = conn  # for the reference export in this process
    cluster = Cluster(home, dags, {})
    watched = api.collection("watched")
    hooked = api.collection("hooked", f"{cluster.api_url}/scrapingpros/webhooks/scrapingpros_default")
    cluster.env.update(
        {
            "AIRFLOW_CONN_SCRAPINGPROS_DEFAULT": conn,
            "SCRAPINGPROS_WATCHED_COLLECTION": watched,
            "SCRAPINGPROS_WEBHOOK_COLLECTION": hooked,
            "SCRAPINGPROS_WATCH_POLL_S": str(POLL_S),
            "AIRFLOW_VAR_SCRAPINGPROS_EXPORT_ROOT": f"file://{home}/exports",
        }
    )
    lane = Lane(cluster, sandbox, api, watched, hooked)
    rows: list[Row] = []
    try:
        cluster.migrate()
        for component in COMPONENTS:
            cluster.start(component)
        lane.wait_ready()
        for scenario in lane.scenarios():
            rows.extend(run_scenario(scenario))
    finally:
        cluster.stop_all()
        sandbox.stop()
    print_table(rows)
    ok = bool(rows) and all(row[3] for row in rows)
    if not ok:
        for component in COMPONENTS:
            print(f"----- {component} (last 3000 chars)\n{cluster.logs(component)[-3000:]}")
    return 0 if ok else 1


def run_scenario(scenario: Callable[[], list[Row]]) -> list[Row]:
    try:
        return scenario()
    except Exception as exc:  # one broken scenario is a FAIL row, and the others still run
        traceback.print_exc()
        return [(scenario.__name__, "ran to the end", f"{type(exc).__name__}: {exc}"[:100], False)]


def print_table(rows: list[Row]) -> None:
    widths = [max(len(str(row[i])) for row in rows) for i in range(3)] if rows else [8, 8, 8]
    print(f"{'scenario':<{widths[0]}}  {'checked':<{widths[1]}}  {'figure':<{widths[2]}}  result")
    for name, checked, figure, ok in rows:
        print(
            f"{name:<{widths[0]}}  {checked:<{widths[1]}}  {figure:<{widths[2]}}  {'PASS' if ok else 'FAIL'}"
        )


class Lane:
    def __init__(
        self, cluster: Cluster, sandbox: Sandbox, api: SandboxApi, watched: str, hooked: str
    ) -> None:
        self.cluster, self.sandbox, self.api = cluster, sandbox, api
        self.watched, self.hooked = watched, hooked
        host = sandbox.base_url.split("://", 1)[1]
        self.watched_uri = f"scrapingpros://{host}/collections/{watched}"
        self.hooked_uri = f"scrapingpros://{host}/collections/{hooked}"

    def scenarios(self) -> list[Callable[[], list[Row]]]:
        return [self.deferrable_run, self.watcher, self.webhook, self.forged_webhook, self.triggerer_restart]

    # ------------------------------------------------------------------------------ observations
    def wait_ready(self) -> None:
        wait_for("the API server", self.cluster.api_up, 120)
        wanted = {"sp_standalone", WATCH_DAG, WEBHOOK_DAG}
        wait_for("the DAGs to be parsed", lambda: wanted <= self.dag_ids(), 180)
        # the watcher has looked at its collection at least once: runs from now on are its to report
        runs_route = "GET /v1/async/collections/{cid}/runs"
        wait_for("the watcher's first poll", lambda: self.sandbox.control.count(runs_route) > 0, 120)

    def dag_ids(self) -> set[str]:
        return {row[0] for row in self.cluster.query("SELECT dag_id FROM dag")}

    def event_run_ids(self, uri: str) -> list[str]:
        rows = self.cluster.query(
            "SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.uri = ?", uri
        )
        return [announced_run_id(json.loads(extra or "{}")) or "?" for (extra,) in rows]

    def event_times(self, uri: str) -> list[tuple[str, float]]:
        """(announced run id, when Airflow stored the event as a Unix time), oldest first."""
        rows = self.cluster.query(
            "SELECT e.extra, e.timestamp FROM asset_event e JOIN asset a ON a.id = e.asset_id "
            "WHERE a.uri = ? ORDER BY e.id",
            uri,
        )
        return [(announced_run_id(json.loads(extra or "{}")) or "?", _unix(stamp)) for (extra, stamp) in rows]

    def dag_runs(self, dag_id: str) -> list[str]:
        return [row[0] for row in self.cluster.query("SELECT state FROM dag_run WHERE dag_id = ?", dag_id)]

    def settled(self, dag_id: str, count: int) -> list[str]:
        """Wait until `count` runs of the DAG ended, then a little longer: a duplicate shows up too."""
        wait_for(
            f"{count} finished runs of {dag_id}",
            lambda: sum(state in ("success", "failed") for state in self.dag_runs(dag_id)) >= count,
            240,
        )
        time.sleep(3 * POLL_S)
        return self.dag_runs(dag_id)

    def exported(self, kind: str, collection_id: str, run_id: str) -> Path:
        return self.cluster.home / "exports" / kind / collection_id / run_id

    # ---------------------------------------------------------------------------------- scenarios
    def deferrable_run(self) -> list[Row]:
        runs_before = self.sandbox.control.stats()["runs"]
        triggered = self.cluster.airflow("dags", "trigger", "sp_standalone")
        assert triggered.returncode == 0, triggered.stderr[-2000:]
        states = self.settled("sp_standalone", 1)
        runs = self.sandbox.control.stats()["runs"] - runs_before
        deferred = self.task_was_deferred("sp_standalone", "run")
        return [
            ("deferrable run", "DAG run state", ",".join(states), states == ["success"]),
            ("deferrable run", "run task waited in the triggerer", str(deferred), deferred),
            ("deferrable run", "runs started on the sandbox", str(runs), runs == 1),
        ]

    def task_was_deferred(self, dag_id: str, task_id: str) -> bool:
        logs = self.cluster.home / "logs"
        paths = [
            p for p in logs.rglob("*.log.trigger.*") if f"dag_id={dag_id}" in str(p) and task_id in str(p)
        ]
        text = "".join(p.read_text(errors="replace") for p in paths)
        return "Trigger fired event" in text and "'status': 'success'" in text

    def watcher(self) -> list[Row]:
        run_id = self.api.start_run(self.watched)
        states = self.settled(WATCH_DAG, 1)
        events = self.event_run_ids(self.watched_uri)
        same = self.same_as_reference(self.exported("watched", self.watched, run_id), self.watched, run_id)
        return [
            (
                "watcher",
                "Asset events for the run",
                f"{events.count(run_id)} of {len(events)}",
                events == [run_id],
            ),
            ("watcher", "export DAG runs", ",".join(states), states == ["success"]),
            ("watcher", "objects = a reference export", same, same.startswith("identical")),
        ]

    def same_as_reference(self, folder: Path, collection_id: str, run_id: str) -> str:
        """The DAG's export against one this process makes from the sandbox, object by object."""
        from airflow_provider_scrapingpros.operators.export import ScrapingProsExportResultsOperator
        from tests.task_context import context_for

        reference = self.cluster.home / "reference" / run_id
        ScrapingProsExportResultsOperator(
            task_id="reference",
            collection_id=collection_id,
            run_id=run_id,
            destination=f"file://{reference}/",
            follow=False,
        ).execute(context_for())
        ours, theirs = _tree(folder), _tree(reference)
        if ours and ours == theirs:
            return f"identical ({len(ours)} objects)"
        return f"differ: {len(ours)} vs {len(theirs)} objects"

    def webhook(self) -> list[Row]:
        lost = 2
        self.lose_first_acks(lost)
        run_id = self.api.start_run(self.hooked)
        wait_for(
            "the webhook to be delivered for good",
            lambda: any(a["outcome"] == "sent" for a in self.webhook_attempts(run_id)),
            180,
        )
        attempts = self.webhook_attempts(run_id)
        states = self.settled(WEBHOOK_DAG, 1)
        events = self.event_run_ids(self.hooked_uri)
        exported = (self.exported("webhooks", self.hooked, run_id) / "_SUCCESS.json").exists()
        statuses = ",".join(str(a["status"]) for a in attempts)
        return [
            ("webhook", f"deliveries (first {lost} acks lost)", statuses, len(attempts) == lost + 1),
            (
                "webhook",
                "Asset events for the run",
                f"{events.count(run_id)} of {len(events)}",
                events == [run_id],
            ),
            ("webhook", "export DAG runs", ",".join(states), states == ["success"] and exported),
        ]

    def webhook_attempts(self, run_id: str) -> list[dict[str, Any]]:
        return [item for item in self.sandbox.control.webhooks() if item["run_id"] == run_id]

    def lose_first_acks(self, count: int) -> None:
        """The sandbox treats the first `count` answers as lost and delivers again (docs/sandbox.md)."""
        self.sandbox.control.set_faults({"webhooks": {"lost_ack": count}})

    def forged_webhook(self) -> list[Row]:
        before = len(self.event_run_ids(self.hooked_uri))
        body = json.dumps(
            {"event": "run.completed", "run_id": "forged", "collection_id": self.hooked}
        ).encode()
        answer = requests.post(
            f"{self.cluster.api_url}/scrapingpros/webhooks/scrapingpros_default",
            data=body,
            headers={"X-SP-Timestamp": str(int(time.time())), "X-SP-Signature": "sha256=" + "0" * 64},
            timeout=30,
        )
        after = len(self.event_run_ids(self.hooked_uri))
        return [
            ("forged webhook", "answer", str(answer.status_code), 400 <= answer.status_code < 500),
            ("forged webhook", "Asset events added", str(after - before), after == before),
        ]

    def triggerer_restart(self) -> list[Row]:
        before = self.event_run_ids(self.watched_uri)
        first = [self.api.start_run(self.watched) for _ in range(10)]
        time.sleep(1.5)  # some of them end before the restart, some after
        stopped_at = time.time()
        self.cluster.stop("triggerer", signal.SIGTERM)
        second = [self.api.start_run(self.watched) for _ in range(10)]
        time.sleep(1.5)
        self.cluster.start("triggerer")
        started = first + second
        wait_for(
            "all 20 runs to end",
            lambda: all(self.api.run_status(self.watched, rid) == "completed" for rid in started),
            240,
        )
        wait_for(
            "an event for each of the 20 runs",
            lambda: set(started) <= set(self.event_run_ids(self.watched_uri)),
            240,
        )
        time.sleep(4 * POLL_S)  # a duplicate would come within a poll or two
        timed = self.event_times(self.watched_uri)[len(before) :]
        events = [rid for rid, _ in timed]
        duplicates = len(events) - len(set(events))
        missed = len(set(started) - set(events))
        # At-least-once: the watcher saves its cursor EVENT_PERSIST_WAIT_S after a batch, so only a
        # run whose first event was stored in that window before the stop may be announced again.
        window = EVENT_PERSIST_WAIT_S + 2.0  # + Airflow's shipping period and the stop itself
        first_seen: dict[str, float] = {}
        for rid, stamp in timed:
            first_seen.setdefault(rid, stamp)
        repeated = {rid for rid in events if events.count(rid) > 1}
        early = sorted(rid for rid in repeated if first_seen[rid] < stopped_at - window)
        self.all_watch_runs_ended()
        at_once = self.exported_count(started)
        # Airflow's scheduler can delete the queue row of events that arrive while it creates a DAG
        # run from the earlier ones (20 events in 0.2 s hit it): they stay recorded, unconsumed,
        # until the Asset's next event starts a DAG run, which consumes them all. One more run shows it.
        flush = self.api.start_run(self.watched)
        wait_for("the next run's export", lambda: self.exported_count([flush]) == 1, 240)
        self.all_watch_runs_ended()
        states = self.dag_runs(WATCH_DAG)
        exported = self.exported_count(started)
        return [
            (
                "triggerer restart",
                "export DAG runs (events may share one)",
                f"{states.count('success')} success, {states.count('failed')} failed",
                states.count("failed") == 0,
            ),
            ("triggerer restart", "runs exported by their own events (info)", f"{at_once}/20", True),
            ("triggerer restart", "runs exported once one more run ended", f"{exported}/20", exported == 20),
            ("triggerer restart", "duplicate events over 20 runs (info)", str(duplicates), True),
            (
                "triggerer restart",
                f"duplicates only of events stored < {window:.0f} s before the stop",
                f"{len(repeated) - len(early)} of {len(repeated)}",
                not early,
            ),
            ("triggerer restart", "missed events over 20 runs", str(missed), missed == 0),
        ]

    def all_watch_runs_ended(self) -> None:
        wait_for(
            f"every {WATCH_DAG} run to end",
            lambda: all(state in ("success", "failed") for state in self.dag_runs(WATCH_DAG)),
            300,
        )

    def exported_count(self, run_ids: list[str]) -> int:
        return sum(
            (self.exported("watched", self.watched, rid) / "_SUCCESS.json").exists() for rid in run_ids
        )


def _unix(stamp: str) -> float:
    """An `asset_event.timestamp` as SQLite holds it (UTC, with or without an offset)."""
    from datetime import datetime, timezone

    parsed = datetime.fromisoformat(stamp.replace(" ", "T"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


def _tree(root: Path) -> dict[str, str]:
    import hashlib

    if not root.exists():
        return {}
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


if __name__ == "__main__":
    sys.exit(main())
