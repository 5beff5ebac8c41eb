"""The run operator's cost guard called directly: where the estimate comes from when no collection
operator recorded it, what a reattach skips, and which calls the guard costs."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_scrapingpros.exceptions import ScrapingProsCostError, ScrapingProsInputError
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from airflow_provider_scrapingpros.operators.run import ScrapingProsRunCollectionOperator
from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from tests.conftest import connection_json
from tests.task_context import StateStoreStandIn, context_for

POST_RUN = "POST /v1/async/collections/{cid}/run"
GET_COLLECTION = "GET /v1/async/collections/{cid}"
LIST_RUNS = "GET /v1/async/collections/{cid}/runs"
TOKEN = "sp_cost_direct_token"
URLS = [f"https://shop.example.com/p/{i}" for i in range(3)]


@pytest.fixture
def account(conn: SandboxControl, monkeypatch: pytest.MonkeyPatch) -> SandboxControl:
    conn.set_token(TOKEN, plan="growth", credits_monthly=100, credits_used=90)
    monkeypatch.setenv("AIRFLOW_CONN_SCRAPINGPROS_DEFAULT", connection_json(conn.base_url, token=TOKEN))
    return conn


def run(cid: str, store: StateStoreStandIn | None = None, **kwargs: Any) -> dict[str, Any]:
    task = ScrapingProsRunCollectionOperator(
        task_id="run", collection_id=cid, deferrable=False, poll_interval=0.05, **kwargs
    )
    result: dict[str, Any] = task.execute(context_for(store=store or StateStoreStandIn()))
    return result


def test_a_collection_made_elsewhere_with_no_run_cannot_be_capped(account: SandboxControl) -> None:
    cid = ScrapingProsHook().create_collection("elsewhere", URLS).id
    with pytest.raises(
        ScrapingProsCostError, match=r"max_credits=100 is set but the run's cost cannot be estimated"
    ):
        run(cid, max_credits=100)
    assert account.count(POST_RUN) == 0


def test_its_last_run_bounds_the_cost_until_the_collection_changes(account: SandboxControl) -> None:
    hook = ScrapingProsHook()
    cid = hook.create_collection("elsewhere", URLS).id
    hook.create_run(cid)
    with pytest.raises(ScrapingProsCostError, match=r"up to 15 credits \(3 requests; an upper bound"):
        run(cid, max_credits=14)
    result = run(cid, max_credits=15, require_quota=False)
    assert (result["estimated_credits"], result["estimate_source"]) == (15, "run_size")
    assert (result["credits_used"], result["credits_used_range"]) == (None, [3, 15])
    hook.update_collection(cid, "elsewhere", URLS[:1])  # the last run no longer says what a run costs
    with pytest.raises(ScrapingProsCostError, match="cannot be estimated"):
        run(cid, max_credits=100)
    assert account.count(POST_RUN) == 2  # the hook's, and the one that fit


def test_without_an_estimate_only_an_empty_quota_stops_the_run(account: SandboxControl) -> None:
    cid = ScrapingProsHook().create_collection("elsewhere", URLS).id
    assert run(cid)["status"] == "completed"  # 10 credits left: a warning, and the run starts
    account.set_token(TOKEN, credits_used=100)
    with pytest.raises(ScrapingProsCostError, match=r"has 0 credits left this month \(100 of 100 used\)"):
        run(cid)
    assert account.count(POST_RUN) == 1


def test_a_reattach_never_checks_again(account: SandboxControl) -> None:
    cid = ScrapingProsHook().create_collection("elsewhere", URLS).id
    store = StateStoreStandIn()
    first = run(cid, store, estimated_credits="3")
    account.set_token(TOKEN, credits_used=100)  # the run spent what was left
    again = run(cid, store, estimated_credits="3", max_credits=1)
    assert again["run_id"] == first["run_id"]
    assert (again["estimated_credits"], again["estimate_source"]) == (3, "given")
    assert account.count(POST_RUN) == 1


def test_without_limits_the_guard_makes_no_call(account: SandboxControl) -> None:
    cid = ScrapingProsHook().create_collection("elsewhere", URLS).id
    account.clear_requests()
    result = run(cid, require_quota=False)
    assert account.count(GET_COLLECTION) == 0 and account.count(LIST_RUNS) == 0
    assert (result["estimated_credits"], result["credits_used_range"]) == (15, [3, 15])


@pytest.mark.parametrize(
    ("options", "field"),
    [({"max_credits": -1}, "max_credits"), ({"max_credits": True}, "max_credits")],
)
def test_bad_cost_options_fail_when_the_dag_is_parsed(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ScrapingProsInputError) as err:
        ScrapingProsRunCollectionOperator(task_id="run", collection_id="c", **options)
    assert err.value.errors[0][0] == field


def test_a_rendered_estimate_that_is_not_a_number_fails_before_any_call(account: SandboxControl) -> None:
    cid = ScrapingProsHook().create_collection("elsewhere", URLS).id
    account.clear_requests()
    with pytest.raises(ScrapingProsInputError, match="estimated_credits must be a whole number"):
        run(cid, estimated_credits="lots")
    assert account.count() == 0
