"""The sandbox-only controls the suite relies on (docs/sandbox.md#controls): reset restores the
startup state atomically, cleared rules stop applying, the month roll-over clears credit usage, and
the effective config lists every startup option."""

from __future__ import annotations

import time

import httpx

from airflow_provider_scrapingpros.sandbox.control import SandboxControl

from .helpers import COLLECTIONS, R_RUN, TOKEN, submit, url
from .invariants import assert_run_invariants

OPTIONS = {
    "host", "port", "public_base_url", "webhook_secret", "worker_timeout", "time_scale", "clock",
    "default_latency_ms", "result_retention_hours", "metadata_retention_days", "idempotency_window_hours",
    "inline_result_cap_bytes", "webhook_timeout", "tokens", "accept_any_token", "fault_profile", "seed",
    "link_mbps", "body_size_mean", "body_size_sigma",
}  # fmt: skip


def test_reset_restores_the_startup_state(sp: SandboxControl, api: httpx.Client) -> None:
    cid, rid = submit(api, [{"url": url("r")}], name="before-reset")
    assert_run_invariants(sp.base_url, TOKEN, cid, rid)
    sp.set_token(TOKEN, credits_monthly=10, credits_used=4)
    sp.set_rules([{"match": "*", "outcome": {"status": 500}}])
    sp.script_fault(R_RUN, "error_5xx", 5)
    sp.advance(3 * 86400)

    sp.reset()

    assert abs(sp.clock()["epoch"] - time.time()) < 5
    assert (sp.token(TOKEN)["credits_monthly"], sp.token(TOKEN)["credits_used"]) == (None, 0)
    assert api.get(COLLECTIONS).json() == []
    assert sp.requests()[-1]["route"] == "GET /v1/async/collections" and len(sp.requests()) == 1
    assert sp.webhooks() == [] and sp.stats()["collections_created"] == 0
    cid, rid = submit(api, [{"url": url("after")}])  # no rule, no scripted 5xx left
    checked = assert_run_invariants(sp.base_url, TOKEN, cid, rid)
    assert checked.run["success_requests"] == 1


def test_month_roll_over_clears_credit_usage(sp: SandboxControl) -> None:
    sp.set_token(TOKEN, credits_monthly=3, credits_used=3)
    sp.advance(32 * 86400)
    assert sp.token(TOKEN)["credits_used"] == 0


def test_effective_config(sp: SandboxControl) -> None:
    config = sp.config()
    assert set(config) == OPTIONS
    assert (config["time_scale"], config["clock"], config["webhook_secret"]) == (
        0.01,
        "real",
        "sp_sandbox_dev_secret",
    )
    assert config["public_base_url"] == sp.base_url


def test_cleared_rules_no_longer_shape_new_jobs(sp: SandboxControl, api: httpx.Client) -> None:
    sp.set_rules([{"match": "*/ruled*", "outcome": {"status": 503}}])
    sp.clear_rules()
    cid, rid = submit(api, [{"url": url("ruled")}])
    checked = assert_run_invariants(sp.base_url, TOKEN, cid, rid)
    assert [job["status_code"] for job in checked.jobs] == [200]
