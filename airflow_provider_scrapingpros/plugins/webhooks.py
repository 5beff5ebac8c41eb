"""The webhook receiver: `POST /scrapingpros/webhooks/{conn_id}` in the Airflow API server.

A plugin FastAPI app (`fastapi_apps`) is mounted beside the core API, outside its authentication:
the endpoint's only credential is the delivery's signature, checked with the connection's
`webhook_secret` extra by `client.webhooks.verify` on the raw bytes before anything is parsed. A
verified `run.completed` becomes one Asset event on `scrapingpros://<api host>/collections/<id>`
(recorder.py; exactly once per run), so DAGs scheduled on `collection_asset(...)` start when the run
ends. docs/webhook-receiver.md has the setup and every status code.

Answers are JSON `{"status": ..., "detail": ...}`; neither the secret nor the token is ever in an
answer or a log line. The connection look-up and the database work run in a worker thread, off the
API server's event loop; the body is read in chunks and refused as soon as it passes `MAX_BODY`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from airflow.plugins_manager import AirflowPlugin
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from .. import CONN_TYPE
from ..client.core import ScrapingProsCore
from ..client.models import WebhookEvent
from ..client.settings import ClientSettings, normalize_base_url
from ..client.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookPayloadError,
    WebhookVerificationError,
    verify,
)
from ..runs.completion import EVENT, CollectionUriError, RunCompleted, collection_uri
from .recorder import NoWatchingDag, record

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # a run.completed with 10 000 job ids is ~400 KB
URL_PREFIX = "/scrapingpros"


@dataclass(frozen=True)
class Answer:
    status_code: int
    status: str
    detail: str
    extra: dict[str, Any] | None = None

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"status": self.status, "detail": self.detail, **(self.extra or {})}, status_code=self.status_code
        )


app = FastAPI(
    title="ScrapingPros webhooks",
    description="Signed run.completed deliveries from ScrapingPros → Asset events.",
    docs_url=None,
    redoc_url=None,
    openapi_url=None,
)


@app.post("/webhooks/{conn_id}")
async def receive(conn_id: str, request: Request) -> JSONResponse:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        return _too_large(conn_id).response()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return _too_large(conn_id).response()  # stop reading: the rest is never buffered
        chunks.append(chunk)
    answer = await run_in_threadpool(
        handle,
        conn_id,
        b"".join(chunks),
        request.headers.get(SIGNATURE_HEADER),
        request.headers.get(TIMESTAMP_HEADER),
    )
    return answer.response()


def handle(conn_id: str, body: bytes, signature: str | None, timestamp: str | None) -> Answer:
    """One delivery, start to finish (sync: connection look-up and DB work block)."""
    found = _connection(conn_id)
    if isinstance(found, Answer):
        return _logged(conn_id, found)
    secret, base_url = found
    try:
        event = verify(secret, body, signature, timestamp)
    except WebhookVerificationError as exc:
        # Signed but not a run event → 422; anything else (forged, stale, altered, headers) → 401.
        code = 422 if isinstance(exc, WebhookPayloadError) else 401
        return _logged(conn_id, Answer(code, "rejected", str(exc)))
    if event.event != EVENT:
        return _logged(
            conn_id, Answer(202, "ignored", f"event {event.event!r} is not handled; only {EVENT}.")
        )
    return _logged(conn_id, _record(event, base_url))


def _record(event: WebhookEvent, base_url: str) -> Answer:
    try:
        uri = collection_uri(base_url, event.collection_id)
        run_url = ScrapingProsCore(ClientSettings(base_url=base_url)).run_url(
            event.collection_id, event.run_id
        )
    except (CollectionUriError, ValueError) as exc:
        return Answer(422, "rejected", f"signed event has unusable ids: {exc}")
    completed = RunCompleted.from_webhook(event, run_url)
    ids: dict[str, Any] = {"run_id": event.run_id, "collection_id": event.collection_id, "asset_uri": uri}
    try:
        recorded = record(uri, completed)
    except NoWatchingDag as exc:
        return Answer(404, "no_watching_dag", f"no DAG watches collection {event.collection_id}: {exc}", ids)
    ids["asset_event_id"] = recorded.asset_event_id
    if recorded.duplicate:
        return Answer(200, "duplicate", "this run's Asset event exists already; nothing added.", ids)
    return Answer(200, "recorded", "Asset event recorded.", ids)


def _connection(conn_id: str) -> tuple[str, str] | Answer:
    """(webhook secret, API base URL) of the connection, or the answer that says what to configure."""
    from airflow.models.connection import Connection

    # Missing and not-ours get the same answer: an unauthenticated caller learns no connection types.
    unknown = Answer(
        404,
        "unknown_connection",
        f"no ScrapingPros connection {conn_id!r}: create a '{CONN_TYPE}' connection with this id and the "
        "extra `webhook_secret`, or fix the id in the collection's callback_url.",
    )
    try:
        conn: Any = Connection.get_connection_from_secrets(conn_id)  # typed as columns on 3.1
    except Exception as exc:
        # AirflowNotFoundException lives in airflow.exceptions on 3.1 and in the Task SDK on 3.3.
        if type(exc).__name__ != "AirflowNotFoundException":
            raise
        return unknown
    if conn.conn_type != CONN_TYPE:
        return unknown
    secret = conn.extra_dejson.get("webhook_secret")
    if not isinstance(secret, str) or not secret.strip():
        # 503: a configuration gap the API should retry through, once the secret is added.
        return Answer(
            503,
            "not_configured",
            f"Airflow connection {conn_id!r} has no `webhook_secret` extra: add the webhook secret of your "
            "ScrapingPros account to it.",
        )
    try:
        base_url = normalize_base_url(conn.host, conn.port)
    except ValueError as exc:
        return Answer(503, "not_configured", f"Airflow connection {conn_id!r} has an unusable host: {exc}")
    return secret, base_url


def _too_large(conn_id: str) -> Answer:
    answer = Answer(413, "rejected", f"body over {MAX_BODY} bytes; a run.completed is far smaller.")
    return _logged(conn_id, answer)


def _logged(conn_id: str, answer: Answer) -> Answer:
    level = logging.INFO if answer.status_code < 300 else logging.WARNING
    log.log(
        level,
        "ScrapingPros webhook for %r: %d %s: %s",
        conn_id,
        answer.status_code,
        answer.status,
        answer.detail,
    )
    return answer


class ScrapingProsWebhookPlugin(AirflowPlugin):
    """Mounts the receiver at /scrapingpros in the API server (Airflow 3.1+)."""

    name = "scrapingpros_webhooks"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "ScrapingPros webhooks"}]
