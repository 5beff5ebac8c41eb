"""Whole DAGs with the collection/run operators, the trigger and the sensor, run by `dag.test()` in
real Airflow against the sandbox over loopback. Counts come from the sandbox's state and request log."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from tests.e2e.conftest import run_dag, task_states

pytestmark = pytest.mark.usefixtures("airflow_db")

POST_COLLECTIONS = "POST /v1/async/collections"
POST_RUN = "POST /v1/async/collections/{cid}/run"
RESULT_KEYS = {
    "collection_id",
    "run_id",
    "status",
    "total_requests",
    "success_requests",
    "failed_requests",
    "timeout_requests",
    "outcome",
    "run_url",
    "estimated_credits",
    "estimate_source",
    "credits_used",
    "credits_used_range",
}


def mixed_urls(
    n_ok: int, n_404: int = 0, n_captcha: int = 0, tag: str = "", latency_ms: int = 200
) -> list[Any]:
    base = f"https://shop.example.com/{tag}"
    urls: list[Any] = [f"{base}item/{i}?sp_latency_ms={latency_ms}" for i in range(n_ok)]
    urls += [f"{base}gone/{i}?sp_status=404&sp_latency_ms={latency_ms}" for i in range(n_404)]
    urls += [
        {"url": f"{base}cap/{i}?sp_captcha=1&sp_latency_ms={latency_ms}", "custom_id": f"c{i}"}
        for i in range(n_captcha)
    ]
    return urls


def without_ids(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k not in ("collection_id", "run_id", "run_url")}


def test_deferrable_and_sync_runs_return_identical_xcom(sp_conn: SandboxControl, xcom: Any) -> None:
    results = {}
    for mode in ("deferrable", "sync"):
        # 20 s simulated fetches (0.2 s real): still running at the first check, so the task must wait
        urls = mixed_urls(8, 1, 1, latency_ms=20_000)
        dag_run = run_dag(f"sp_create_run_{mode}", {"name": f"daily-{mode}", "requests": urls})
        assert task_states(dag_run) == {"create": "success", "run": "success", "summarize": "success"}
        results[mode] = xcom(dag_run, "run")
        assert set(results[mode]) == RESULT_KEYS
        (run_ti,) = [ti for ti in dag_run.get_task_instances() if ti.task_id == "run"]
        # only the deferrable task went through the triggerer (dag.test runs the trigger inline)
        assert (run_ti.trigger_id is not None) is (mode == "deferrable")
        assert xcom(dag_run, "run", key="_link_ScrapingProsRunLink") == results[mode]["run_url"]
        assert xcom(dag_run, "summarize") == {
            "run_id": results[mode]["run_id"],
            "outcome": "partial",
            "success": 8,
        }
    assert (
        without_ids(results["deferrable"])
        == without_ids(results["sync"])
        == {
            "status": "completed",
            "total_requests": 10,
            "success_requests": 8,
            "failed_requests": 2,
            "timeout_requests": 0,
            "outcome": "partial",
            "estimated_credits": 10,
            "estimate_source": "submitted",
            "credits_used": 8,
            "credits_used_range": [8, 8],
        }
    )
    run = results["deferrable"]
    assert run["run_url"].endswith(f"/v1/async/collections/{run['collection_id']}/runs/{run['run_id']}")
    assert sp_conn.count(POST_COLLECTIONS) == 2
    assert sp_conn.count(POST_RUN) == 2


def test_create_upserts_by_name(sp_conn: SandboxControl, xcom: Any) -> None:
    first = run_dag("sp_create_run_deferrable", {"name": "same-name", "requests": mixed_urls(2)})
    second = run_dag("sp_create_run_deferrable", {"name": "same-name", "requests": mixed_urls(3, tag="b")})
    assert xcom(first, "create") == xcom(second, "create")
    assert xcom(second, "run")["total_requests"] == 3
    assert sp_conn.count(POST_COLLECTIONS) == 1
    assert sp_conn.count("PUT /v1/async/collections/{cid}") == 1
    assert sp_conn.stats()["collections"] == 1


def test_sensor_waits_for_a_run_started_by_another_task(sp_conn: SandboxControl, xcom: Any) -> None:
    # 30 s simulated latency (0.3 s real): the run is still going when `start` returns
    dag_run = run_dag("sp_sensor", {"name": "sensed", "requests": mixed_urls(5, 0, 1, latency_ms=30_000)})
    assert task_states(dag_run) == {
        "create": "success",
        "start": "success",
        "wait": "success",
        "wait_poke": "success",
    }
    started = xcom(dag_run, "start")
    assert started["outcome"] is None and started["status"] == "in_progress"
    for task_id in ("wait", "wait_poke"):
        assert xcom(dag_run, task_id) == {
            **started,
            "status": "completed",
            "success_requests": 5,
            "failed_requests": 1,
            "timeout_requests": 0,
            "outcome": "partial",
            # 6 plain requests, recorded by `create` and passed on by `start`: 5 successes, 5 credits
            "estimated_credits": 6,
            "estimate_source": "submitted",
            "credits_used": 5,
            "credits_used_range": [5, 5],
        }
    assert (started["estimated_credits"], started["credits_used"]) == (6, None)
    assert sp_conn.count(POST_RUN) == 1


@pytest.mark.parametrize(("n_404", "expected"), [(8, "failed"), (1, "success")])
def test_max_failed_ratio(sp_conn: SandboxControl, n_404: int, expected: str) -> None:
    dag_run = run_dag(
        "sp_max_failed_ratio", {"name": f"ratio-{n_404}", "requests": mixed_urls(20 - n_404, n_404)}
    )
    assert task_states(dag_run)["run"] == expected


def test_retry_after_crash_between_post_and_defer_reattaches(sp_conn: SandboxControl, xcom: Any) -> None:
    dag_run = run_dag("sp_retry_reattach", {"name": "crashy", "requests": mixed_urls(4)})
    assert task_states(dag_run) == {"create": "success", "run": "success"}
    (ti,) = [t for t in dag_run.get_task_instances() if t.task_id == "run"]
    assert ti.try_number == 2
    assert sp_conn.count(POST_RUN) == 1
    assert sp_conn.stats()["runs"] == 1
    assert xcom(dag_run, "run")["success_requests"] == 4


def test_lost_response_on_post_run_still_makes_one_run(sp_conn: SandboxControl, xcom: Any) -> None:
    sp_conn.script_fault(POST_RUN, "lost_after_commit", 1)
    dag_run = run_dag("sp_create_run_deferrable", {"name": "lossy", "requests": mixed_urls(3)})
    assert task_states(dag_run)["run"] == "success"
    assert sp_conn.stats()["runs"] == 1
    assert xcom(dag_run, "run")["success_requests"] == 3


def test_update_operator_replaces_requests(sp_conn: SandboxControl, xcom: Any) -> None:
    dag_run = run_dag("sp_update_then_run", {"name": "upd", "requests": mixed_urls(6)})
    assert task_states(dag_run) == {"create": "success", "update": "success", "run": "success"}
    assert xcom(dag_run, "run")["total_requests"] == 6


@pytest.mark.parametrize(
    "requests",
    [
        [{"custom_id": "no-url"}],
        [{"url": "example.com", "actions": [{"type": "hover", "selector": "a"}]}],
        [{"url": "example.com", "screenshot": True}],
        "/nonexistent/urls.csv",
    ],
    ids=["missing-url", "unknown-action", "screenshot-without-browser", "missing-file"],
)
def test_bad_input_fails_before_any_api_call(sp_conn: SandboxControl, requests: Any) -> None:
    dag_run = run_dag("sp_bad_input", {"name": "bad", "requests": requests})
    assert task_states(dag_run) == {"create": "failed"}
    assert sp_conn.count() == 0


def test_unknown_connection_fails_without_api_calls(sp_conn: SandboxControl) -> None:
    dag_run = run_dag("sp_unknown_connection")
    assert task_states(dag_run) == {"create": "failed"}
    assert sp_conn.count() == 0
