"""Simulated target outcomes (docs/sandbox.md#s1-outcome-rules) and run fates
(docs/sandbox.md#s2-fault-profile): hint precedence (timeout > fail > lost > block > status), sandbox rules
under the hints, binary and extractable bodies, and runs a fault profile ends `failed` / `cancelled`
part-way, with invariants intact."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from airflow_provider_scrapingpros.sandbox.outcomes import (
    Settlement,
    TargetOutcome,
    hints,
    outcome_for,
    parse_rules,
    settle,
)

from .helpers import COLLECTIONS, TOKEN, http, run_path, submit, url
from .invariants import assert_run_invariants
from .webhook_receiver import WebhookReceiver


def test_hint_precedence_rules_and_bodies(sp: SandboxControl, api: httpx.Client) -> None:
    sp.set_rules(
        [
            {"match": "https://example.com/ruled/*", "outcome": {"status": 503}},
            {"match": "re:/refused$", "outcome": {"blocked": True}},
        ]
    )
    cases: dict[str, tuple[str, tuple[str, int | None, str | None, bool]]] = {
        # custom_id: (url, (status, status_code, message, is_success))
        "timeout>fail": (
            url("a", sp_timeout=1, sp_fail="x"),
            ("timeout", None, "Worker timeout after 60s", False),
        ),
        "fail>lost": (url("b", sp_fail="x", sp_lost=1), ("failed", None, "x", False)),
        "lost>block": (url("c", sp_lost=1, sp_captcha=1), ("completed", 200, None, True)),
        "block>status": (
            url("d", sp_captcha=1, sp_status=500),
            ("completed", 500, "blocked: captcha", False),
        ),
        "rule": (url("ruled/x"), ("completed", 503, "http_503", False)),
        "hint>rule": (url("ruled/y", sp_status=201), ("completed", 201, None, True)),
        "binary": (url("doc", sp_binary="application/pdf"), ("completed", 200, None, True)),
        "extractable": (url("shop", sp_extractable=1), ("completed", 200, None, True)),
    }
    requests: list[Any] = [{"url": u, "custom_id": key} for key, (u, _) in cases.items()]
    body = api.post(COLLECTIONS, json={"name": "outcomes", "requests": [*requests, {"url": url("refused")}]})
    assert [(b["index"], b["reason"]) for b in body.json()["blocked_urls"]] == [(len(cases), "blocked")]
    cid = body.json()["id"]
    rid = api.post(f"{COLLECTIONS}/{cid}/run").json()["run_id"]

    checked = assert_run_invariants(sp.base_url, TOKEN, cid, rid)
    seen = {
        j["custom_id"]: (j["status"], j["status_code"], j["message"], j["is_success"]) for j in checked.jobs
    }
    assert seen == {key: expected for key, (_, expected) in cases.items()}
    by_id = {j["custom_id"]: j for j in checked.jobs}
    assert by_id["block>status"]["block_reason"] == "captcha"
    assert (by_id["extractable"]["has_extractable_data"], by_id["binary"]["has_extractable_data"]) == (
        True,
        False,
    )
    binary = api.get(f"{run_path(cid, rid)}/jobs/{by_id['binary']['job_public_id']}/result").json()
    assert (binary["content_type"], binary["html"], binary["markdown"]) == ("application/pdf", None, None)
    assert binary["body_base64"]


@pytest.mark.parametrize(("fate", "error"), [("fail", "run_failed"), ("cancel", "run_cancelled")])
def test_fault_profile_ends_runs_part_way(sp: SandboxControl, fate: str, error: str) -> None:
    runs = {"fail": 0.0, "cancel": 0.0, "seeding_window_s": 0}
    sp.set_faults({"seed": 3, "rules": [], "runs": dict(runs, **{fate: 1.0})})
    status = {"fail": "failed", "cancel": "cancelled"}[fate]
    with WebhookReceiver() as receiver, http(sp.base_url) as api:
        requests = [{"url": url(f"fate/{i}", sp_latency_ms=100 * i)} for i in range(20)]
        cid, rid = submit(api, requests, callback_url=receiver.url)
        checked = assert_run_invariants(sp.base_url, TOKEN, cid, rid)
        event = receiver.wait(1)[0]
    run = checked.run
    assert run["status"] == status
    stopped = [j for j in checked.jobs if j["status"] == "failed"]
    assert stopped and all(j["message"] == error and j["status_code"] is None for j in stopped)
    assert run["success_requests"] + len(stopped) == 20
    payload = json.loads(event.body)
    assert (payload["event"], payload["status"]) == ("run.completed", status)  # event name never varies


def test_url_hints_are_read_from_the_query_and_win_over_rules() -> None:
    url = "https://example.com/a?x=1&sp_status=404&sp_latency_ms=900&sp_captcha=1&sp_bytes=nope"
    assert hints(url) == {"status": 404, "latency_ms": 900, "captcha": True}
    rules = parse_rules([{"match": "*example.com*", "outcome": {"status": 500, "extractable": True}}])
    assert outcome_for(url, rules) == TargetOutcome(
        status=404, latency_ms=900, captcha=True, extractable=True
    )
    assert outcome_for("https://other.org/", rules) == TargetOutcome()
    regex = parse_rules([{"match": "re:/shop/\\d+$", "outcome": {"blocked": True}}])
    assert outcome_for("https://a.com/shop/12", regex).blocked is True


def test_rules_reject_unknown_keys_and_wrong_types_by_name() -> None:
    with pytest.raises(ValueError, match=r"rules\[0\]\.outcome\.colour: unknown key"):
        parse_rules([{"match": "*", "outcome": {"colour": "red"}}])
    with pytest.raises(ValueError, match=r"rules\[0\]\.outcome\.status: must be of type int"):
        parse_rules([{"match": "*", "outcome": {"status": True}}])


def _settle(retry_on_block: bool = False, browser: bool = False, **declared: Any) -> Settlement:
    return settle(
        TargetOutcome(**declared),
        retry_on_block=retry_on_block,
        browser=browser,
        default_latency_ms=200,
        time_scale=0.5,
        worker_timeout=60,
    )


def test_settlement_precedence_timeout_fail_lost_block_status() -> None:
    everything: dict[str, Any] = {
        "timeout": True,
        "fail": "boom",
        "lost": True,
        "block": "cloudflare",
        "status": 404,
    }
    assert _settle(**everything).status == "timeout"
    assert _settle(**{**everything, "timeout": False}).message == "boom"
    lost = _settle(**{**everything, "timeout": False, "fail": None})
    assert (lost.status, lost.lost, lost.status_code) == ("completed", True, 404)
    blocked = _settle(block="cloudflare")
    assert (blocked.status_code, blocked.message, blocked.block_reason, blocked.is_success) == (
        403,
        "blocked: cloudflare",
        "cloudflare",
        False,
    )
    assert _settle(status=404).message == "http_404"
    ok = _settle()
    assert (ok.status, ok.is_success, ok.duration, ok.message) == ("completed", True, 0.1, None)


def test_latency_over_the_worker_timeout_is_a_timeout_at_exactly_the_scaled_limit() -> None:
    slow = _settle(latency_ms=61_000)
    assert (slow.status, slow.duration, slow.message) == ("timeout", 30.0, "Worker timeout after 60s")


def test_retry_on_block_beats_a_few_blocked_attempts_but_not_a_captcha() -> None:
    assert _settle(block_attempts=2).captcha is True
    retried = _settle(retry_on_block=True, block_attempts=2)
    assert (retried.is_success, retried.retries) == (True, 2)
    assert retried.duration == pytest.approx(0.3)  # three attempts of 200 ms at time_scale 0.5
    captcha = _settle(retry_on_block=True, captcha=True)
    assert (captcha.is_success, captcha.retries, captcha.error_type) == (False, 3, "captcha")


def test_a_browser_only_wall_holds_against_retries_and_falls_to_the_browser() -> None:
    walled = _settle(retry_on_block=True, browser_only=True)
    assert (walled.is_success, walled.retries, walled.block_reason) == (False, 3, "captcha")
    through = _settle(browser=True, browser_only=True)
    assert (through.is_success, through.retries, through.block_reason) == (True, 0, None)
    assert _settle(browser=True, captcha=True).is_success is False  # a captcha beats the browser too
