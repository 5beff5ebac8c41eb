"""Webhook deliveries waiting to be sent: the payload of a terminal run and the queue of attempts.

The engine (`state.py`) queues a delivery when a run turns terminal; the pump (`webhooks.py`) pops
what is due and sends it. Both sides meet here, so neither imports the other
(docs/api-notes.md#webhooks).
"""

from __future__ import annotations

import heapq
import itertools
import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .timefmt import iso_s

if TYPE_CHECKING:
    from .entities import RunRecord


@dataclass(eq=False)
class WebhookDelivery:
    run: RunRecord
    url: str
    body: bytes
    attempt: int  # 1-based number of the next attempt
    generation: int  # the engine generation that queued it; a reset orphans it


def new_delivery(run: RunRecord, base_url: str, at: float, generation: int) -> WebhookDelivery:
    """The payload is fixed at terminal time: every attempt sends the same bytes."""
    payload = {
        "event": "run.completed",
        "run_id": run.id,
        "collection_id": run.collection_id,
        "status": run.status,
        "total_requests": len(run.jobs),
        "success_requests": run.success,
        "failed_requests": run.failed,
        "job_ids": [job.id for job in run.jobs],
        "results_url": f"{base_url}/v1/async/collections/{run.collection_id}/runs/{run.id}",
        "timestamp": iso_s(at),
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    return WebhookDelivery(run, run.callback_url or "", body, 1, generation)


class DeliveryQueue:
    """Attempts in time order (ties in queueing order). Callers hold the engine lock."""

    def __init__(self) -> None:
        # The event outlives `clear()`: the webhook ticker waits on this same object for its life.
        self.ready = threading.Event()
        self._heap: list[tuple[float, int, WebhookDelivery]] = []
        self._seq = itertools.count()

    def clear(self) -> None:
        self._heap = []

    def push(self, at: float, delivery: WebhookDelivery) -> None:
        heapq.heappush(self._heap, (at, next(self._seq), delivery))
        self.ready.set()

    def next_at(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, limit: float) -> tuple[float, WebhookDelivery] | None:
        """The earliest attempt due at or before `limit`, removed from the queue."""
        if self._heap and self._heap[0][0] <= limit:
            at, _, delivery = heapq.heappop(self._heap)
            return at, delivery
        return None
