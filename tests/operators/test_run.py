"""ScrapingProsRunCollectionOperator called directly: one run per task instance, the same result in
every waiting mode, reattach on retry, options checked before any call."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_scrapingpros.exceptions import (
    ScrapingProsInputError,
    ScrapingProsServerError,
    ScrapingProsTransportError,
)
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from airflow_provider_scrapingpros.operators.run import ScrapingProsRunCollectionOperator
from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from airflow_provider_scrapingpros.triggers.run import ScrapingProsRunTrigger
from tests.conftest import connection_json
from tests.task_context import (
    StateStoreStandIn,
    TaskDeferred,
    TaskInstanceStandIn,
    context_for,
    frozen,
    run_trigger,
)

POST_RUN = "POST /v1/async/collections/{cid}/run"
URLS = [{"url": "https://example.com/a"}, {"url": "https://example.com/b?sp_status=404"}]


def collection(urls: list[dict[str, Any]] = URLS) -> str:
    return ScrapingProsHook().create_collection("direct", urls).id


def operator(cid: str, **kwargs: Any) -> ScrapingProsRunCollectionOperator:
    return ScrapingProsRunCollectionOperator(task_id="run", collection_id=cid, poll_interval=0.05, **kwargs)


def test_sync_wait_starts_one_run_and_returns_ids_and_counters(conn: SandboxControl) -> None:
    cid = collection()
    context = context_for(store=StateStoreStandIn())
    result = operator(cid, deferrable=False).execute(context)
    assert result == {
        "collection_id": cid,
        "run_id": result["run_id"],
        "status": "completed",
        "total_requests": 2,
        "success_requests": 1,
        "failed_requests": 1,
        "timeout_requests": 0,
        "outcome": "partial",
        "run_url": f"{conn.base_url}/v1/async/collections/{cid}/runs/{result['run_id']}",
        # no collection operator upstream: the run's size bounds the cost (docs/cost.md)
        "estimated_credits": 10,
        "estimate_source": "run_size",
        "credits_used": None,
        "credits_used_range": [1, 5],
    }
    assert context["ti"].pushed == {
        "_link_ScrapingProsRunLink": result["run_url"],
        "scrapingpros_cost": {
            "collection_id": cid,
            "requests": 2,
            "browser_requests": None,
            "estimated_credits": 10,
            "source": "run_size",
        },
    }
    assert conn.count(POST_RUN) == 1


def test_deferrable_hands_the_wait_to_the_trigger_and_ends_with_the_same_result(
    conn: SandboxControl,
) -> None:
    cid = collection()
    task = operator(cid, deferrable=True)
    context = context_for(store=StateStoreStandIn())
    with frozen(conn), pytest.raises(TaskDeferred) as deferred:
        task.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, ScrapingProsRunTrigger)
    assert (deferred.value.method_name, deferred.value.timeout) == ("execute_complete", None)
    assert trigger.first_poll_at is not None  # the task just polled: the trigger does not ask again at once
    result = task.execute_complete(context, run_trigger(trigger))
    assert (result["status"], result["outcome"], result["success_requests"]) == ("completed", "partial", 1)
    assert conn.count(POST_RUN) == 1


def test_a_retry_of_the_same_task_instance_reattaches_instead_of_paying_again(conn: SandboxControl) -> None:
    cid = collection()
    store = StateStoreStandIn()
    first = operator(cid, deferrable=False).execute(context_for(store=store))
    again = operator(cid, deferrable=False).execute(context_for(store=store))
    assert again["run_id"] == first["run_id"]
    assert store.values == {"scrapingpros_run": {"collection_id": cid, "run_id": first["run_id"]}}
    assert conn.count(POST_RUN) == 1


def test_without_waiting_the_outcome_is_not_claimed(conn: SandboxControl) -> None:
    cid = collection()
    result = operator(cid, wait_for_completion=False).execute(context_for(store=StateStoreStandIn()))
    assert result["outcome"] is None and result["total_requests"] == 2


@pytest.mark.parametrize(
    ("options", "field"),
    [({"max_failed_ratio": 1.5}, "max_failed_ratio"), ({"poll_interval": 0}, "poll_interval")],
)
def test_bad_options_fail_when_the_dag_is_parsed(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ScrapingProsInputError) as err:
        ScrapingProsRunCollectionOperator(task_id="run", collection_id="c", **options)
    assert err.value.errors[0][0] == field and field in str(err.value)


LIST_RUNS = "GET /v1/async/collections/{cid}/runs"


@pytest.mark.parametrize("with_state_store", [True, False])
def test_a_retry_after_a_lost_run_post_adopts_that_run_instead_of_paying_again(
    conn: SandboxControl, monkeypatch: pytest.MonkeyPatch, with_state_store: bool
) -> None:
    """max_retries=0: the hook gives up on the unanswered POST at once; the task's retry must find
    the run the POST created (the same holds for a worker killed between the POST and saving its id)."""
    monkeypatch.setenv("AIRFLOW_CONN_SCRAPINGPROS_DEFAULT", connection_json(conn.base_url, max_retries=0))
    cid = collection()
    store = StateStoreStandIn() if with_state_store else None
    conn.script_fault(POST_RUN, "lost_after_commit", 1)
    with pytest.raises(ScrapingProsTransportError):
        operator(cid, deferrable=False).execute(context_for(store=store))
    retry = context_for(TaskInstanceStandIn(try_number=2), store=store)
    result = operator(cid, deferrable=False).execute(retry)
    assert conn.stats()["runs"] == 1 and conn.count(POST_RUN) == 1
    assert result["run_id"] == ScrapingProsHook().list_runs(cid).items[0].run_id


def test_a_retry_never_posts_while_it_cannot_tell_whether_the_lost_post_made_a_run(
    conn: SandboxControl,
) -> None:
    cid = collection()
    store = StateStoreStandIn()
    conn.script_fault(POST_RUN, "lost_after_commit", 1)
    conn.script_fault(LIST_RUNS, "error_5xx", 12)  # the look-up after the lost answer fails too
    with pytest.raises(ScrapingProsServerError):
        operator(cid, deferrable=False).execute(context_for(store=store))
    result = operator(cid, deferrable=True).execute(
        context_for(TaskInstanceStandIn(try_number=2), store=store)
    )
    assert result["status"] == "completed"  # found finished at the first look: no deferral needed
    assert conn.stats()["runs"] == 1 and conn.count(POST_RUN) == 1
