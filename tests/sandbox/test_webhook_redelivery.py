"""The `webhooks.lost_ack` fault (docs/sandbox.md#s2-fault-profile): the sandbox treats the first N
attempts of each delivery as unanswered although the receiver answered 2xx, so the receiver sees the
same signed delivery N + 1 times, spaced by the (scaled) retry ladder — the redelivery a receiver
must deduplicate on `(run_id, event)`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_scrapingpros.client.webhooks import verify
from airflow_provider_scrapingpros.sandbox import Sandbox
from airflow_provider_scrapingpros.sandbox.faults import parse_profile

from .helpers import WEBHOOK_SECRET, get_run, http, submit, url, wait_for
from .webhook_receiver import WebhookReceiver


def _attempts(sb: Sandbox, rid: str) -> list[tuple[int, str, int | None, bool]]:
    return [
        (a["attempt"], a["outcome"], a["status"], bool(a["error"] and "lost_ack" in a["error"]))
        for a in sb.control.webhooks()
        if a["run_id"] == rid
    ]


def _with_callback_status(api: httpx.Client, cid: str, rid: str, status: str) -> dict[str, Any] | None:
    run = get_run(api, cid, rid)
    return run if run["callback_status"] == status else None


def test_receiver_sees_the_same_delivery_n_plus_one_times(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(time_scale=0.001)  # ladder waits 0.06 s, 0.3 s, ...
    sb.control.set_faults({"webhooks": {"lost_ack": 2}})
    with WebhookReceiver(status=200) as receiver, http(sb.base_url) as api:
        cid, rid = submit(api, [{"url": url("r/ok")}], callback_url=receiver.url)
        deliveries = receiver.wait(3, timeout=15)
        run = wait_for(partial(_with_callback_status, api, cid, rid, "sent"), what="sent")
        time.sleep(0.5)  # a fourth attempt would be due after 1.8 s at this scale; none is queued
        assert len(receiver.snapshot()) == 3

    assert run["callback_status"] == "sent"
    assert len({d.body for d in deliveries}) == 1  # the payload is fixed at terminal time
    assert json.loads(deliveries[0].body)["run_id"] == rid
    for delivery in deliveries:  # every attempt is signed afresh and verifies
        verify(
            WEBHOOK_SECRET,
            delivery.body,
            delivery.headers["x-sp-signature"],
            delivery.headers["x-sp-timestamp"],
        )
    gaps = [b.received_at - a.received_at for a, b in pairwise(deliveries)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.25, gaps  # 60 s and 300 s times the scale
    assert _attempts(sb, rid) == [
        (1, "retrying", 200, True),
        (2, "retrying", 200, True),
        (3, "sent", 200, False),
    ]


def test_a_failing_receiver_still_fails_as_before(sandbox_factory: Callable[..., Sandbox]) -> None:
    # lost_ack only turns answered attempts into lost ones; a 4xx stays a final failure.
    sb = sandbox_factory(time_scale=0.001)
    sb.control.set_faults({"webhooks": {"lost_ack": 1}})
    with WebhookReceiver(status=404) as receiver, http(sb.base_url) as api:
        cid, rid = submit(api, [{"url": url("r/ok")}], callback_url=receiver.url)
        receiver.wait(1)
        wait_for(partial(_with_callback_status, api, cid, rid, "failed"), what="failed")
        time.sleep(0.2)
        assert len(receiver.snapshot()) == 1
    assert _attempts(sb, rid) == [(1, "failed", 404, False)]


def test_startup_profile_keeps_lost_ack_across_reset(
    sandbox_factory: Callable[..., Sandbox], tmp_path: Path
) -> None:
    profile = tmp_path / "faults.json"
    profile.write_text(json.dumps({"webhooks": {"lost_ack": 1}}))
    sb = sandbox_factory(time_scale=0.001, fault_profile=str(profile))
    assert sb.control.faults()["webhooks"] == {"lost_ack": 1}
    sb.control.set_faults({})
    assert sb.control.faults()["webhooks"] == {"lost_ack": 0}
    sb.control.reset()
    assert sb.control.faults()["webhooks"] == {"lost_ack": 1}
    with WebhookReceiver() as receiver, http(sb.base_url) as api:
        submit(api, [{"url": url("r/ok")}], callback_url=receiver.url)
        assert len(receiver.wait(2)) == 2


@pytest.mark.parametrize(
    ("webhooks", "message"),
    [
        ({"lost_ack": -1}, "webhooks.lost_ack: must be an integer from 0 to 5"),
        ({"lost_ack": 6}, "webhooks.lost_ack: must be an integer from 0 to 5"),
        ({"lost_ack": True}, "webhooks.lost_ack: must be an integer"),
        ({"lost_ack": 1.5}, "webhooks.lost_ack: must be an integer"),
        ({"lost": 1}, "webhooks.lost: unknown key; expected lost_ack"),
        ([1], "webhooks: must be an object"),
    ],
)
def test_bad_lost_ack_is_refused(webhooks: object, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        parse_profile({"webhooks": webhooks})


def test_control_api_answers_422_for_a_bad_lost_ack(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory()
    resp = httpx.put(f"{sb.base_url}/_sandbox/faults", json={"webhooks": {"lost_ack": "2"}})
    assert resp.status_code == 422
    assert resp.json()["detail"].startswith("webhooks.lost_ack:")
    assert sb.control.faults()["webhooks"] == {"lost_ack": 0}
