"""Webhook delivery (contract §10): payload, signature, retry ladder, `callback_status`.

The engine queues a `Delivery` when a run turns terminal; `WebhookPump.run_due()` sends what is due
*outside* the engine lock (a slow receiver must never stall the API) and records each attempt under
it. Deliveries and state events interleave in time order: before an attempt due at t the pump
processes every state event up to t, so the receiver's GET of the run sees the terminal status, and
with `move_clock` (manual advances) the clock reads the attempt's time while the receiver runs.

Signing reuses `airflow_provider_scrapingpros.webhooks.sign`, the function receivers verify with.
"""

from __future__ import annotations

import heapq
import http.client
import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from .timefmt import iso_s

if TYPE_CHECKING:
    from .clock import Clock
    from .config import SandboxConfig
    from .entities import Run
    from .state import Engine

LADDER_S = (60.0, 300.0, 1800.0, 7200.0, 43200.0)  # waits after failed attempts 1..5 (§10)


@dataclass(eq=False)
class Delivery:
    run: Run
    url: str
    body: bytes
    attempt: int  # 1-based number of the next attempt
    generation: int  # the engine generation that queued it; a reset orphans it


def new_delivery(run: Run, base_url: str, at: float, generation: int) -> Delivery:
    """The payload is fixed at terminal time: every attempt sends the same bytes (§10)."""
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
    return Delivery(run, run.callback_url or "", body, 1, generation)


def post(url: str, body: bytes, secret: str, at: float, timeout: float) -> tuple[int | None, str | None]:
    """One signed attempt; (HTTP status, None) or (None, transport error). Redirects are not followed."""
    parts = urlsplit(url)
    ts = int(at)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = connection_class(parts.hostname or "", parts.port, timeout=timeout)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "ScrapingPros-Webhooks/sandbox",
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: sign(secret, ts, body),
    }
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, None
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    finally:
        connection.close()


def verdict(status: int | None) -> str:
    """2xx → sent; transport error, 5xx, 408, 429 → retry; any other status → failed (§10)."""
    if status is not None and 200 <= status < 300:
        return "sent"
    if status is None or status >= 500 or status in (408, 429):
        return "retry"
    return "failed"


class WebhookPump:
    def __init__(self, engine: Engine, clock: Clock, config: SandboxConfig) -> None:
        self._engine = engine
        self._clock = clock
        self._config = config
        self._pump_lock = threading.Lock()  # one deliverer at a time keeps attempts in time order
        self._log_lock = threading.Lock()
        self._log: list[dict[str, Any]] = []

    def clear(self) -> None:
        with self._log_lock:
            self._log.clear()

    def attempts(self) -> list[dict[str, Any]]:
        with self._log_lock:
            return [dict(item) for item in self._log]

    def run_due(self, target: float, move_clock: bool) -> None:
        """Process state and deliver every attempt due at or before `target`, in time order."""
        engine = self._engine
        with self._pump_lock:
            while True:
                with engine.lock:
                    due = self._next(target)
                    if due is None:
                        return
                    at, delivery = due
                    if move_clock:
                        self._clock.move_to(at)
                    at = max(at, self._clock.now())
                status, error = post(
                    delivery.url, delivery.body, self._config.webhook_secret, at, self._config.webhook_timeout
                )
                with engine.lock:
                    self._record(delivery, status, error, at)

    def _next(self, target: float) -> tuple[float, Delivery] | None:
        """The earliest attempt due by `target`, after every state event up to its time."""
        heap = self._engine.deliveries
        limit = min(target, heap[0][0]) if heap else target
        self._engine.process_until(limit)
        if heap and heap[0][0] <= limit:
            due, _, delivery = heapq.heappop(heap)
            return due, delivery
        return None

    def _record(self, delivery: Delivery, status: int | None, error: str | None, at: float) -> None:
        engine = self._engine
        if delivery.generation != engine.generation:
            return  # the sandbox was reset while this attempt was in flight
        run = delivery.run
        outcome = verdict(status)
        if outcome == "retry" and delivery.attempt <= len(LADDER_S):
            outcome = "retrying"
            wait = LADDER_S[delivery.attempt - 1] * self._config.time_scale
            delivery.attempt += 1
            engine.queue_delivery(at + wait, delivery)
        elif outcome == "retry":
            outcome = "failed"
        run.callback_status = outcome
        with self._log_lock:
            self._log.append(
                {
                    "run_id": run.id,
                    "collection_id": run.collection_id,
                    "attempt": delivery.attempt - (1 if outcome == "retrying" else 0),
                    "url": delivery.url,
                    "sandbox_time": at,
                    "status": status,
                    "error": error,
                    "outcome": outcome,
                }
            )
