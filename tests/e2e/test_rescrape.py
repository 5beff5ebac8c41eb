"""Rescraping in whole DAGs under `dag.test()` (tests/dags/sp_rescrape.py): create → run → rescrape
(the default ladder: `retry_on_block`, then `browser`) → merged export, on the session sandbox."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from tests.conftest import DEV_TOKEN
from tests.e2e.conftest import run_dag, task_states
from tests.export.helpers import ground_truth

pytestmark = pytest.mark.usefixtures("airflow_db")

POST_COLLECTIONS = "POST /v1/async/collections"
POST_RUN = "POST /v1/async/collections/{cid}/run"
SHOP = "https://shop.example.com"
# Out of every 100 URLs: blocked on the first attempt only, blocked until browser, always blocked
# (a captcha), gone (404), fine.
MIX = (("sp_block_attempts=1", 15), ("sp_browser_only=1", 5), ("sp_captcha=1", 2), ("sp_status=404", 3))


def batch(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        slot, hint = i % 100, None
        for query, share in MIX:
            if slot < share:
                hint = query
                break
            slot -= share
        url = f"{SHOP}/p/{i}" + (f"?{hint}" if hint else "")
        out.append({"url": url, "custom_id": f"p-{i:04d}"})
    return out


def kind_of(url: str) -> str:
    return next((q.split("=")[0] for q, _ in MIX if q in url), "ok")


def test_two_rounds_leave_exactly_the_always_blocked_and_the_404s(
    sp_conn: SandboxControl, sandbox: Any, xcom: Any, tmp_path: Path
) -> None:
    requests = batch(1000)
    dest = tmp_path / "merged"
    dag_run = run_dag(
        "sp_rescrape", {"name": "daily", "requests": requests, "destination": f"file://{dest}/"}
    )
    assert task_states(dag_run) == {
        "create": "success",
        "run": "success",
        "rescrape": "success",
        "export": "success",
    }

    result = xcom(dag_run, "rescrape")
    counts = [(r["round"], r["requests"], r["succeeded"], r["failed"]) for r in result["rounds"]]
    # 750 fine; round 1 (retry_on_block) beats the 150 one-time blocks; round 2 (+ browser) the 50
    # browser-only walls; the 20 captchas stay; the 30 404s are never resubmitted.
    assert counts == [(0, 1000, 750, 250), (1, 220, 150, 70), (2, 70, 50, 20)]
    assert [r["overrides"] for r in result["rounds"]] == [
        {},
        {"retry_on_block": True},
        {"retry_on_block": True, "browser": True},
    ]
    assert (result["remaining_failed"], result["not_rescraped"], result["stopped"]) == (
        50,
        {"not_found": 30},
        "max_rounds",
    )
    assert sp_conn.count(POST_COLLECTIONS) == 3
    assert sp_conn.count(POST_RUN) == 3
    assert sp_conn.stats()["runs"] == 3

    # Charged: 750 + 150 plain pages, 50 browser pages at 5 credits; the export reports the same.
    charged = sp_conn.token(DEV_TOKEN)["credits_used"]
    assert charged == 750 + 150 + 50 * 5
    marker = json.loads((dest / "_SUCCESS.json").read_text())
    assert (marker["credits"]["credits_used"], marker["jobs"], marker["successful"]) == (charged, 1000, 950)
    assert [(r["round"], r["jobs"], r["successful"]) for r in marker["rounds"]] == [
        (0, 1000, 750),
        (1, 220, 150),
        (2, 70, 50),
    ]

    # One manifest line per original request; each body is the best attempt's, byte for byte.
    truths = [ground_truth(sandbox.base_url, r["collection_id"], r["run_id"]) for r in result["runs"]]
    by_custom = [{j["custom_id"]: j for j in t.values()} for t in truths]
    lines = [json.loads(x) for x in (dest / "_manifest.jsonl").read_text().splitlines()]
    assert sorted(line["custom_id"] for line in lines) == sorted(r["custom_id"] for r in requests)
    rounds_tried = {"ok": 1, "sp_block_attempts": 2, "sp_browser_only": 3, "sp_captcha": 3, "sp_status": 1}
    best_round = {"ok": 0, "sp_block_attempts": 1, "sp_browser_only": 2, "sp_captcha": 2, "sp_status": 0}
    for line in lines:
        kind = kind_of(line["url"])
        assert len(line["attempts"]) == rounds_tried[kind], line
        assert line["best_round"] == best_round[kind], line
        assert line["is_success"] is (kind not in ("sp_captcha", "sp_status")), line
        assert [a["run_id"] for a in line["attempts"]] == result["run_ids"][: rounds_tried[kind]]
        truth = by_custom[line["best_round"]][line["custom_id"]]
        assert line["job_id"] == by_custom[0][line["custom_id"]]["job_public_id"]
        if line["key"] is not None:
            body = (dest / line["key"]).read_bytes()
            assert hashlib.sha256(body).hexdigest() == truth["body_sha256"], line
    assert sum(1 for line in lines if line["key"] is not None) == 1000  # blocked and 404 pages have one too


@pytest.mark.parametrize("phase", ["collection", "run", "ended"])
def test_a_crash_in_any_phase_starts_no_second_collection_or_run(
    phase: str, sp_conn: SandboxControl, xcom: Any
) -> None:
    requests = batch(100)
    dag_run = run_dag("sp_rescrape_crash", {"name": f"crash-{phase}", "requests": requests, "crash": phase})
    assert task_states(dag_run) == {"create": "success", "run": "success", "rescrape": "success"}
    (ti,) = [t for t in dag_run.get_task_instances() if t.task_id == "rescrape"]
    assert ti.try_number == 2
    result = xcom(dag_run, "rescrape")
    assert [(r["requests"], r["succeeded"]) for r in result["rounds"]] == [(100, 75), (22, 15), (7, 5)]
    # the original, and one collection and one run per round: the retry adopted what try 1 made
    assert sp_conn.stats()["collections"] == 3
    assert sp_conn.count(POST_RUN) == 3
    assert sp_conn.stats()["runs"] == 3


def test_nothing_qualifies_starts_nothing(sp_conn: SandboxControl, xcom: Any, tmp_path: Path) -> None:
    requests = [{"url": f"{SHOP}/gone/{i}?sp_status=404"} for i in range(3)] + [{"url": f"{SHOP}/fine"}]
    dest = tmp_path / "out"
    dag_run = run_dag("sp_rescrape", {"name": "gone", "requests": requests, "destination": f"file://{dest}/"})
    assert task_states(dag_run)["rescrape"] == "success"
    result = xcom(dag_run, "rescrape")
    assert (result["stopped"], result["remaining_failed"], result["not_rescraped"]) == (
        "nothing_qualifies",
        3,
        {"not_found": 3},
    )
    assert len(result["runs"]) == 1
    assert (sp_conn.count(POST_COLLECTIONS), sp_conn.count(POST_RUN)) == (1, 1)


def test_max_credits_stops_the_chain_before_a_round_it_cannot_pay(sp_conn: SandboxControl, xcom: Any) -> None:
    dag_run = run_dag("sp_rescrape_capped", {"name": "capped", "requests": batch(100)})
    assert task_states(dag_run)["rescrape"] == "success"  # a budget stop is not a failure
    result = xcom(dag_run, "rescrape")
    assert [(r["requests"], r["succeeded"]) for r in result["rounds"]] == [(100, 75), (22, 15)]
    assert (result["stopped"], result["remaining_failed"]) == ("max_credits", 3 + 7)
    assert result["rounds"][1]["cost"]["estimated_credits"] == 22
    assert result["rounds"][1]["credits_used"] == 15
    # round 2 (35 credits) was never made: no collection, no run
    assert (sp_conn.stats()["collections"], sp_conn.count(POST_RUN)) == (2, 2)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"reasons": ["not_found"]}, "reasons"),
        ({"ladder": [{"url": "https://elsewhere.example/"}]}, "ladder[0].url"),
        ({"ladder": [{"retry_on_block": True}, {"browser": "yes please"}]}, "ladder[1].browser"),
        ({"max_rounds": 0}, "max_rounds"),
        ({"max_credits": -1}, "max_credits"),
    ],
)
def test_bad_options_fail_when_the_dag_is_parsed(kwargs: dict[str, Any], field: str) -> None:
    from airflow_provider_scrapingpros.exceptions import ScrapingProsInputError
    from airflow_provider_scrapingpros.operators.rescrape import ScrapingProsRescrapeOperator

    with pytest.raises(ScrapingProsInputError) as caught:
        ScrapingProsRescrapeOperator(
            task_id="r", collection_id="c", run_id="r", requests=["a.example"], **kwargs
        )
    assert caught.value.errors[0][0] == field


def test_blank_ids_and_bad_requests_fail_before_any_api_call(sp_conn: SandboxControl) -> None:
    from airflow_provider_scrapingpros.exceptions import ScrapingProsInputError
    from airflow_provider_scrapingpros.operators.rescrape import ScrapingProsRescrapeOperator

    cases: list[tuple[str, str, Any, str]] = [
        (" ", "r", ["a.example"], "collection_id"),
        ("c", "", ["a.example"], "run_id"),
        ("c", "r", [{"custom_id": "no-url"}], "url"),
    ]
    for collection_id, run_id, requests, field in cases:
        task = ScrapingProsRescrapeOperator(
            task_id="r", collection_id=collection_id, run_id=run_id, requests=requests
        )
        with pytest.raises(ScrapingProsInputError) as caught:
            task.execute({})
        assert field in str(caught.value)
    assert sp_conn.count() == 0
