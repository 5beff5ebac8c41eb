"""Webhook sending (docs/api-notes.md#webhooks): signature, retry ladder, `callback_status`.

The engine queues a `deliveries.WebhookDelivery` when a run turns terminal; `WebhookPump.run_due()`
sends what is due *outside* the engine lock (a slow receiver must never stall the API) and records
each attempt under it. Deliveries and state events interleave in time order: before an attempt due
at t the pump processes every state event up to t, so the receiver's GET of the run sees the
terminal status, and with `move_clock` (manual advances) the clock reads the attempt's time while
the receiver runs.

Signing reuses `airflow_provider_scrapingpros.client.webhooks.sign`, the function receivers verify with.
"""

from __future__ import annotations

import http.client
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..client.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from .deliveries import WebhookDelivery

if TYPE_CHECKING:
    from .clock import Clock
    from .config import SandboxConfig
    from .state import SandboxEngine

LADDER_S = (60.0, 300.0, 1800.0, 7200.0, 43200.0)  # waits after failed attempts 1..5


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
    """2xx → sent; transport error, 5xx, 408, 429 → retry; any other status → failed."""
    if status is not None and 200 <= status < 300:
        return "sent"
    if status is None or status >= 500 or status in (408, 429):
        return "retry"
    return "failed"


class WebhookPump:
    def __init__(self, engine: SandboxEngine, clock: Clock, config: SandboxConfig) -> None:
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

    def _next(self, target: float) -> tuple[float, WebhookDelivery] | None:
        """The earliest attempt due by `target`, after every state event up to its time."""
        queue = self._engine.deliveries
        head = queue.next_at()
        limit = target if head is None else min(target, head)
        self._engine.process_until(limit)  # may queue deliveries of runs it completes
        return queue.pop_due(limit)

    def _record(self, delivery: WebhookDelivery, status: int | None, error: str | None, at: float) -> None:
        engine = self._engine
        if delivery.generation != engine.generation:
            return  # the sandbox was reset while this attempt was in flight
        run = delivery.run
        outcome = verdict(status)
        if outcome == "sent" and delivery.attempt <= engine.faults.webhook_lost_ack:
            # the `webhooks.lost_ack` fault: the receiver answered, the sandbox acts as if it had not
            outcome = "retry"
            error = f"lost_ack: the {status} answer is treated as lost (sandbox fault webhooks.lost_ack)"
        if outcome == "retry" and delivery.attempt <= len(LADDER_S):
            outcome = "retrying"
            wait = LADDER_S[delivery.attempt - 1] * self._config.time_scale
            delivery.attempt += 1
            engine.deliveries.push(at + wait, delivery)
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
