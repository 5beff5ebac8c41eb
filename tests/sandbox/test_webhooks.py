"""Webhooks (docs/api-notes.md#webhooks): one signed `run.completed` per run, verified with the provider's
own `verify`, and the retry ladder of a failing receiver on a manual clock (1 + 5 attempts, spaced 1 min /
5 min / 30 min / 2 h / 12 h times the time scale)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import partial
from itertools import pairwise
from typing import Any

import httpx
import pytest

from airflow_provider_scrapingpros.client.webhooks import verify
from airflow_provider_scrapingpros.sandbox import Sandbox
from airflow_provider_scrapingpros.sandbox.control import SandboxControl

from .helpers import TOKEN, WEBHOOK_SECRET, get_run, http, run_path, start_run, submit, url, wait_for
from .invariants import assert_run_invariants, parse_stamp
from .webhook_receiver import Delivery, WebhookReceiver

PAYLOAD_KEYS = {
    "event",
    "run_id",
    "collection_id",
    "status",
    "total_requests",
    "success_requests",
    "failed_requests",
    "job_ids",
    "results_url",
    "timestamp",
}
LADDER_S = [60, 300, 1800, 7200, 43200]  # waits after attempts 1..5 at time_scale 1


def verified(delivery: Delivery, now: float) -> dict[str, Any]:
    headers = delivery.headers
    assert headers["content-type"].startswith("application/json")
    assert re.fullmatch(r"sha256=[0-9a-f]{64}", headers["x-sp-signature"])
    verify(WEBHOOK_SECRET, delivery.body, headers["x-sp-signature"], headers["x-sp-timestamp"], now=now)
    payload: dict[str, Any] = json.loads(delivery.body)
    assert set(payload) == PAYLOAD_KEYS
    return payload


def test_one_signed_run_completed_per_run(sp: SandboxControl, api: httpx.Client) -> None:
    seen_status: list[str] = []

    def look_while_delivering(delivery: Delivery) -> None:
        # The terminal status is visible to GETs before the webhook goes out.
        target = json.loads(delivery.body)["results_url"]
        with http(sp.base_url) as probe:
            seen_status.append(probe.get(target).json()["status"])

    with WebhookReceiver(on_delivery=look_while_delivering) as receiver:
        items = [{"url": url("w/ok")}, {"url": url("w/404", sp_status=404)}, {"url": url("w/f", sp_fail="x")}]
        cid, first = submit(api, items, callback_url=receiver.url)
        second = str(start_run(api, cid)["run_id"])
        deliveries = receiver.wait(2)
        runs = {rid: assert_run_invariants(sp.base_url, TOKEN, cid, rid).run for rid in (first, second)}
        sp.advance(5)  # anything a second delivery would need is now due; none may come
        assert len(receiver.snapshot()) == 2

    assert seen_status == ["completed", "completed"]
    now = sp.clock()["epoch"]
    payloads = [verified(d, now) for d in deliveries]
    assert sorted(p["run_id"] for p in payloads) == sorted([first, second])
    for payload in payloads:
        run = runs[payload["run_id"]]
        assert payload == {
            "event": "run.completed",
            "run_id": run["run_id"],
            "collection_id": cid,
            "status": "completed",
            "total_requests": 3,
            "success_requests": 1,
            "failed_requests": 2,
            "job_ids": run["job_ids"],
            "results_url": f"{sp.base_url}{run_path(cid, run['run_id'])}",
            "timestamp": payload["timestamp"],
        }
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", payload["timestamp"])
        last_stamp = max(parse_stamp(j["completed_at"]) for j in _jobs(api, cid, run["run_id"]))
        assert payload["timestamp"] == last_stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        final = wait_for(partial(_with_callback_status, api, cid, run["run_id"], "sent"), what="sent")
        assert final["callback_url"] == receiver.url
    attempts = sp.webhooks()
    assert sorted((a["run_id"], a["attempt"], a["outcome"], a["status"]) for a in attempts) == sorted(
        [(first, 1, "sent", 200), (second, 1, "sent", 200)]
    )


def _with_callback_status(api: httpx.Client, cid: str, rid: str, status: str) -> dict[str, Any] | None:
    run = get_run(api, cid, rid)
    return run if run["callback_status"] == status else None


def _jobs(api: httpx.Client, cid: str, rid: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get(f"{run_path(cid, rid)}/jobs").json()["items"]
    return items


def test_failing_receiver_walks_the_retry_ladder(sandbox_factory: Callable[..., Sandbox]) -> None:
    time_scale = 0.5  # not 1, so the test also shows the ladder is scaled
    sb = sandbox_factory(clock="manual", time_scale=time_scale)
    control = sb.control
    with WebhookReceiver(status=500) as receiver, http(sb.base_url) as api:
        cid, rid = submit(api, [{"url": url("ladder")}], callback_url=receiver.url)
        assert get_run(api, cid, rid)["callback_status"] == "pending"
        control.advance(5)  # the 0.1 s fetch, the run's end and attempt 1 all fall in this step
        assert_run_invariants(sb.base_url, TOKEN, cid, rid, wait_s=0)
        assert len(receiver.snapshot()) == 1
        assert get_run(api, cid, rid)["callback_status"] == "retrying"

        for n, wait in enumerate(LADDER_S, start=2):
            due = max(float(a["sandbox_time"]) for a in control.webhooks()) + wait * time_scale
            control.advance(due - 0.5 - float(control.clock()["epoch"]))
            assert len(receiver.snapshot()) == n - 1, f"attempt {n} came before {wait * time_scale}s"
            control.advance(1)
            assert len(receiver.snapshot()) == n, f"attempt {n} missing after {wait * time_scale}s"
            expected = "retrying" if n < 6 else "failed"
            assert get_run(api, cid, rid)["callback_status"] == expected
        control.advance(7 * 24 * 3600)
        deliveries = receiver.snapshot()
        assert len(deliveries) == 6

    attempts = sorted(control.webhooks(), key=lambda a: int(a["attempt"]))
    assert [(a["attempt"], a["status"], a["outcome"]) for a in attempts] == [
        (1, 500, "retrying"),
        (2, 500, "retrying"),
        (3, 500, "retrying"),
        (4, 500, "retrying"),
        (5, 500, "retrying"),
        (6, 500, "failed"),
    ]
    times = [float(a["sandbox_time"]) for a in attempts]
    gaps = [b - a for a, b in pairwise(times)]
    assert gaps == pytest.approx([w * time_scale for w in LADDER_S], abs=0.01)
    bodies = {d.body for d in deliveries}
    assert len(bodies) == 1, "the payload (timestamp included) is the same in every attempt"
    for delivery, attempt in zip(deliveries, attempts, strict=True):
        assert int(delivery.headers["x-sp-timestamp"]) == int(attempt["sandbox_time"])
        verified(delivery, now=float(attempt["sandbox_time"]))


def test_non_retryable_answer_fails_at_once(sandbox_factory: Callable[..., Sandbox]) -> None:
    public = "http://sandbox.example.test:8000"  # results_url is built on the public base URL
    sb = sandbox_factory(clock="manual", public_base_url=public)
    with WebhookReceiver(status=400) as receiver, http(sb.base_url) as api:
        cid, rid = submit(api, [{"url": url("once")}], callback_url=receiver.url)
        sb.control.advance(120)
        sb.control.advance(86400)
        (delivery,) = receiver.snapshot()
        payload = verified(delivery, now=float(sb.control.webhooks()[0]["sandbox_time"]))
        assert payload["results_url"] == f"{public}{run_path(cid, rid)}"
        assert get_run(api, cid, rid)["callback_status"] == "failed"
        assert_run_invariants(sb.base_url, TOKEN, cid, rid, wait_s=0)
    assert [(a["attempt"], a["status"], a["outcome"]) for a in sb.control.webhooks()] == [(1, 400, "failed")]
