"""The asynchronous flow: collections, runs, jobs and results (docs/api-notes.md#endpoints).

Every handler takes the engine lock, first processes the events due by now, then reads or
mutates, so each answer is one consistent observation
(docs/api-notes.md#counters-and-invariants, I2-I8) and retention is judged at that moment
(docs/api-notes.md#retention). The expensive parts stay outside the lock: item screening
(pydantic) before it, and inline result bodies after it (terminal jobs never change, so building
their bodies unlocked is safe).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..client.models import KNOWN_RUN_STATUSES, RunStatus
from .api import ApiError, Ctx, Reply, Route, reply, unprocessable
from .config import SandboxConfig
from .entities import CollectionRecord, JobRecord, RunRecord
from .listing import QueryError, parse_query, select
from .results import PageSizes, body_size, scrape_response
from .state import QuotaExceeded, SandboxEngine
from .timefmt import iso_ms, parse_iso_us, to_ms
from .validation import Screened

COLLECTIONS = "/v1/async/collections"
_RUN_STATUS_NAMES = ", ".join(s.value for s in RunStatus)  # in the order the 422 lists them
MAX_IDEMPOTENCY_KEY = 255


def _typed_404(code: str, message: str, **extra: Any) -> ApiError:
    return ApiError(404, {"error_code": code, "message": message, **extra})


def _envelope(body: Any, *, creating: bool) -> tuple[str, list[Any] | None, str | None]:
    """Whole-request checks (docs/api-notes.md#collections-and-idempotency): name, requests array,
    callback_url; items are screened later."""
    if not isinstance(body, dict):
        raise unprocessable("body", "", "Input should be a valid dictionary", "dict_type")
    name = body.get("name")
    if "name" not in body:
        raise unprocessable("body", "name", "Field required", "missing")
    if not isinstance(name, str):
        raise unprocessable("body", "name", "Input should be a valid string", "string_type")
    if not name.strip():
        raise unprocessable("body", "name", "String should have at least 1 character", "string_too_short")
    items = body.get("requests")
    if items is not None and not isinstance(items, list):
        raise unprocessable("body", "requests", "Input should be a valid list", "list_type")
    callback = body.get("callback_url") if creating else None
    if callback is not None:
        if not isinstance(callback, str):
            raise unprocessable("body", "callback_url", "Input should be a valid string", "string_type")
        parts = urlsplit(callback.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise unprocessable(
                "body", "callback_url", "URL should be an absolute http(s) URL with a host", "url_parsing"
            )
        callback = callback.strip()
    return name, items, callback


class AsyncApi:
    def __init__(self, engine: SandboxEngine, config: SandboxConfig) -> None:
        self.engine = engine
        self.config = config
        self.sizes = PageSizes.from_config(config)

    def routes(self) -> list[Route]:
        c, r = COLLECTIONS, COLLECTIONS + "/{cid}/runs/{rid}"
        return [
            Route("POST", c, self.create_collection),
            Route("GET", c, self.list_collections),
            Route("GET", c + "/{cid}", self.get_collection),
            Route("PUT", c + "/{cid}", self.update_collection),
            Route("DELETE", c + "/{cid}", self.delete_collection),
            Route("POST", c + "/{cid}/run", self.create_run),
            Route("GET", c + "/{cid}/runs", self.list_runs),
            Route("GET", r, self.get_run),
            Route("GET", r + "/jobs", self.list_jobs),
            Route("GET", r + "/jobs/{jid}/result", self.get_result),
        ]

    def _now(self) -> float:
        """Process everything due, then return the time of this observation. Lock held."""
        now = self.engine.clock.now()
        self.engine.process_until(now)
        return now

    # ------------------------------------------------------------------------------ collections

    def create_collection(self, ctx: Ctx) -> Reply:
        body = ctx.json()
        name, items, callback = _envelope(body, creating=True)
        key = ctx.headers.get("Idempotency-Key")
        if key is not None and not (0 < len(key.strip()) <= MAX_IDEMPOTENCY_KEY):
            raise unprocessable("header", "Idempotency-Key", f"must be 1-{MAX_IDEMPOTENCY_KEY} characters")
        screened = self.engine.screen(items or [])
        with self.engine.lock:
            now = self._now()
            if key is not None:
                record = self.engine.idempotency_record(ctx.me, key, now)
                if record is not None:
                    if record.body != body:
                        raise ApiError(
                            422, f"Idempotency-Key '{key}' was already used with a different request body"
                        )
                    return reply(201, record.response, {"Idempotency-Replayed": "true"})
            collection = self.engine.create_collection(ctx.me, name, screened.accepted, callback, now)
            response = {
                "id": collection.id,
                "name": name,
                "message": "Collection created successfully.",
                **screened.buckets(),
            }
            if key is not None:
                self.engine.remember(ctx.me, key, body, response, now)
        return reply(201, response)

    def list_collections(self, ctx: Ctx) -> Reply:
        since: float | None = None
        if ctx.query.get("since"):
            since_us = parse_iso_us(ctx.query["since"])
            if since_us is None:
                raise unprocessable("query", "since", "not an ISO-8601 date-time", "datetime_parsing")
            since = since_us / 1e6
        with self.engine.lock:
            self._now()
            found = self.engine.list_collections(ctx.me, ctx.query.get("name"), since)
            return reply(200, [c.to_json() for c in found])

    def _collection_or_404(self, ctx: Ctx) -> CollectionRecord:
        found = self.engine.collection(ctx.me, ctx.params["cid"])
        if found is None:
            raise ApiError(404, "Collection not found")
        return found

    def get_collection(self, ctx: Ctx) -> Reply:
        with self.engine.lock:
            self._now()
            return reply(200, self._collection_or_404(ctx).to_json())

    def update_collection(self, ctx: Ctx) -> Reply:
        name, items, _ = _envelope(ctx.json(), creating=False)
        screened = self.engine.screen(items) if items is not None else None
        with self.engine.lock:
            now = self._now()
            collection = self._collection_or_404(ctx)
            collection.name = name
            if screened is not None:
                collection.requests = screened.accepted  # runs snapshot their list: they keep theirs
            collection.updated_at = max(now, collection.updated_at + 0.001)
            buckets = (screened or Screened()).buckets()
            response = {"id": collection.id, "name": name, "message": "Collection updated successfully."}
            return reply(200, {**response, **buckets})

    def delete_collection(self, ctx: Ctx) -> Reply:
        with self.engine.lock:
            self._now()
            self.engine.delete_collection(self._collection_or_404(ctx))
        return reply(200, {"message": "Collection deleted successfully."})

    # ------------------------------------------------------------------------------ runs

    def create_run(self, ctx: Ctx) -> Reply:
        with self.engine.lock:
            now = self._now()
            collection = self._collection_or_404(ctx)
            try:
                run = self.engine.create_run(ctx.me, collection, now)
            except QuotaExceeded as exc:
                raise ApiError(429, str(exc)) from None
            return reply(201, run.to_json(now))

    def list_runs(self, ctx: Ctx) -> Reply:
        wanted = ctx.query.get("status_filter") or None
        if wanted is not None and wanted not in KNOWN_RUN_STATUSES:
            raise unprocessable(
                "query", "status_filter", f"'{wanted}' is not one of: {_RUN_STATUS_NAMES}", "literal_error"
            )
        with self.engine.lock:
            now = self._now()
            runs = self.engine.runs_of(ctx.me, ctx.params["cid"])
            if runs is None:
                raise ApiError(404, "Collection not found")
            items = [r.to_json(now) for r in runs if wanted is None or r.status == wanted]
            return reply(200, {"items": items, "total": len(items)})

    def _run_or_404(self, ctx: Ctx) -> RunRecord:
        found = self.engine.run(ctx.me, ctx.params["cid"], ctx.params["rid"])
        if found is None:
            raise ApiError(404, "Run not found")
        return found

    def get_run(self, ctx: Ctx) -> Reply:
        with self.engine.lock:
            now = self._now()
            return reply(200, self._run_or_404(ctx).to_json(now))

    # ------------------------------------------------------------------------------ jobs

    def list_jobs(self, ctx: Ctx) -> Reply:
        try:
            query = parse_query(ctx.query)
        except QueryError as exc:
            raise unprocessable("query", exc.param, str(exc), exc.kind) from None
        with self.engine.lock:
            now = self._now()
            run = self._run_or_404(ctx)
            jobs, cursor_next, has_more = select(run, query, hide_queued=now < run.seeding_until)
            items = [job.to_json() for job in jobs]
        if query.include_results:
            now_ms = to_ms(now)
            for item, job in zip(items, jobs, strict=True):
                item["result"] = self._inline(job, now_ms)
        return reply(200, {"items": items, "cursor_next": cursor_next, "has_more": has_more})

    def _expired(self, job: JobRecord, now_ms: int) -> bool:
        assert job.completed_ms is not None
        return now_ms - job.completed_ms > self.config.result_retention_hours * 3_600_000

    def _body(self, job: JobRecord) -> dict[str, Any]:
        queued = (job.started_ms or job.queued_ms) - job.queued_ms
        return scrape_response(
            url=job.url, custom_id=job.custom_id, request=job.request, outcome=job.outcome, end=job.end,
            queue_wait_ms=queued, sizes=self.sizes,
        )  # fmt: skip

    def _inline(self, job: JobRecord, now_ms: int) -> dict[str, Any] | None:
        """Completed, retained, not lost and ≤ the cap; else null and the client uses /result
        (docs/api-notes.md#jobs-paging-and-inline-results)."""
        if not job.fetched or job.end.lost or self._expired(job, now_ms):
            return None
        if body_size(job.url, job.outcome, self.sizes) > self.config.inline_result_cap_bytes:
            return None
        return self._body(job)

    def get_result(self, ctx: Ctx) -> Reply:
        with self.engine.lock:
            now = self._now()
            job = self._run_or_404(ctx).by_id.get(ctx.params["jid"])
        if job is None:
            raise _typed_404("job_id_invalid", "Job not found in this run")
        if job.completed_ms is None:
            raise _typed_404("result_pending", "Result not ready: the job is still processing")
        now_ms = to_ms(now)
        if self._expired(job, now_ms):
            age = round((now_ms - job.completed_ms) / 3_600_000, 2)
            raise _typed_404(
                "result_expired", "Result body expired", completed_at=iso_ms(job.completed_ms), age_hours=age
            )
        if job.fetched and job.end.lost:
            raise _typed_404("result_lost", "Result body lost", completed_at=iso_ms(job.completed_ms))
        if job.fetched:
            return reply(200, self._body(job))
        return reply(200, {**_EMPTY_RESULT, "message": job.message or f"Job {job.status}", "url": job.url,
                           "custom_id": job.custom_id, "statusCode": job.status_code})  # fmt: skip


_EMPTY_RESULT: dict[str, Any] = {
    "html": None, "markdown": None, "executionTime": None, "potentiallyBlockedByCaptcha": False,
    "timings": None, "screenshot": None, "extracted_data": None, "evaluate_results": None,
    "network_requests": None, "body_base64": None, "body_url": None, "content_type": None,
}  # fmt: skip
