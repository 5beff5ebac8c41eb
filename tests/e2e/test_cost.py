"""The cost guard in whole DAGs under `dag.test()`: a run is started only when its estimate fits the
task's cap and the account's credits, and what the task reports as charged is what the sandbox charged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from tests.conftest import connection_json
from tests.e2e.conftest import run_dag, task_states

pytestmark = pytest.mark.usefixtures("airflow_db")

TOKEN = "sp_cost_test_token"
POST_RUN = "POST /v1/async/collections/{cid}/run"
SHOP = "https://shop.example.com"


@pytest.fixture
def account(sp_conn: SandboxControl, sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> SandboxControl:
    """A Growth-plan token with 30 credits left this month, as `scrapingpros_default`."""
    sp_conn.set_token(TOKEN, plan="growth", credits_monthly=100, credits_used=70)
    monkeypatch.setenv("AIRFLOW_CONN_SCRAPINGPROS_DEFAULT", connection_json(sandbox.base_url, token=TOKEN))
    return sp_conn


def browser(path: str, n: int) -> list[dict[str, Any]]:
    return [{"url": f"{SHOP}/{path}/{i}", "browser": True} for i in range(n)]


def test_a_run_within_budget_reports_what_the_sandbox_charged(
    account: SandboxControl, tmp_path: Path, xcom: Any
) -> None:
    # 4 browser pages that succeed, 1 that the target answers 404 (refunded): all browser, so exact
    requests = [*browser("item", 4), {"url": f"{SHOP}/gone?sp_status=404", "browser": True}]
    conf = {"name": "cost-ok", "requests": requests, "destination": f"file://{tmp_path}/out/"}
    dag_run = run_dag("sp_cost", conf)
    assert task_states(dag_run) == {"create": "success", "run": "success", "export": "success"}
    assert account.token(TOKEN)["credits_used"] == 70 + 4 * 5
    result = xcom(dag_run, "run")
    credits = {
        "estimated_credits": 25,
        "estimate_source": "submitted",
        "credits_used": 20,
        "credits_used_range": [20, 20],
    }
    assert {k: result[k] for k in credits} == credits
    marker = json.loads((tmp_path / "out" / "_SUCCESS.json").read_text())
    assert marker["credits"] == credits
    assert xcom(dag_run, "export")["credits"] == credits
    assert xcom(dag_run, "create", key="scrapingpros_cost") == {
        "collection_id": result["collection_id"],
        "requests": 5,
        "browser_requests": 5,
        "estimated_credits": 25,
        "source": "submitted",
    }


def test_a_mixed_collection_reports_the_range_the_charge_lies_in(
    account: SandboxControl, tmp_path: Path, xcom: Any
) -> None:
    requests: list[Any] = [f"{SHOP}/plain/{i}" for i in range(6)] + browser("b", 2)
    requests.append(f"{SHOP}/plain/gone?sp_status=404")  # refunded
    requests.append(f"{SHOP}/plain/0")  # a duplicate the API skips: not counted twice
    conf = {"name": "cost-mixed", "requests": requests, "destination": f"file://{tmp_path}/out/"}
    dag_run = run_dag("sp_cost", conf)
    assert task_states(dag_run) == {"create": "success", "run": "success", "export": "success"}
    result = xcom(dag_run, "run")
    # 7 plain + 2 browser = 17 at most; 8 successes, of which 1 or 2 were browser pages
    assert (result["estimated_credits"], result["credits_used"], result["credits_used_range"]) == (
        17,
        None,
        [12, 16],
    )
    assert account.token(TOKEN)["credits_used"] - 70 == 6 + 2 * 5


def test_a_run_over_max_credits_is_never_started(account: SandboxControl, tmp_path: Path) -> None:
    account.set_token(TOKEN, credits_monthly=None)  # unlimited: only the task's cap stops it
    conf = {"name": "cost-cap", "requests": browser("cap", 11), "destination": f"file://{tmp_path}/out/"}
    dag_run = run_dag("sp_cost", conf)
    assert task_states(dag_run) == {"create": "success", "run": "failed", "export": "upstream_failed"}
    assert account.count(POST_RUN) == 0
    assert account.token(TOKEN)["credits_used"] == 70
    assert not (tmp_path / "out").exists()


def test_a_run_the_account_cannot_pay_for_is_never_started(account: SandboxControl, tmp_path: Path) -> None:
    # 7 browser pages: 35 credits, under the task's cap of 50 but over the 30 left
    conf = {"name": "cost-quota", "requests": browser("q", 7), "destination": f"file://{tmp_path}/out/"}
    dag_run = run_dag("sp_cost", conf)
    assert task_states(dag_run) == {"create": "success", "run": "failed", "export": "upstream_failed"}
    assert account.count(POST_RUN) == 0
