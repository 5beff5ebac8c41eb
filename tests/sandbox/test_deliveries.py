"""The webhook delivery queue shared by the engine and the pump (docs/api-notes.md#webhooks):
attempts come out in time order, ties in the order they were queued, and never before they are
due; the payload is fixed when the run ends."""

from __future__ import annotations

import json

from airflow_provider_scrapingpros.sandbox.deliveries import DeliveryQueue, WebhookDelivery, new_delivery
from airflow_provider_scrapingpros.sandbox.entities import RunRecord


def _run(run_id: str) -> RunRecord:
    run = RunRecord(run_id, "c1", "tok", "client_x", 1_780_000_000.0, "http://hooks.example/h", 0)
    run.status = "completed"
    return run


def test_attempts_leave_in_time_order_ties_in_queueing_order_and_only_when_due() -> None:
    queue = DeliveryQueue()
    late, first, second = (new_delivery(_run(name), "http://sb", 10.0, 1) for name in ("late", "a", "b"))
    queue.push(20.0, late)
    queue.push(10.0, first)
    queue.push(10.0, second)
    assert queue.next_at() == 10.0
    assert queue.pop_due(9.999) is None
    popped: list[tuple[float, WebhookDelivery] | None] = [queue.pop_due(15.0) for _ in range(3)]
    assert popped == [(10.0, first), (10.0, second), None]
    assert queue.pop_due(20.0) == (20.0, late)
    assert queue.next_at() is None


def test_a_reset_empties_the_queue_but_keeps_the_event_the_ticker_waits_on() -> None:
    queue = DeliveryQueue()
    ready = queue.ready
    queue.push(1.0, new_delivery(_run("r"), "http://sb", 1.0, 1))
    assert ready.is_set()
    queue.clear()
    assert queue.ready is ready and queue.next_at() is None


def test_the_payload_is_compact_json_fixed_at_terminal_time() -> None:
    run = _run("r1")
    delivery = new_delivery(run, "http://sb:1", 1_780_000_000.9, 4)
    run.status = "failed"  # later changes do not reach a queued delivery
    assert (delivery.url, delivery.attempt, delivery.generation) == ("http://hooks.example/h", 1, 4)
    assert b", " not in delivery.body and b": " not in delivery.body
    payload = json.loads(delivery.body)
    assert payload["status"] == "completed"
    assert payload["timestamp"] == "2026-05-28T20:26:40Z"  # whole seconds
    assert payload["results_url"] == "http://sb:1/v1/async/collections/c1/runs/r1"
