"""The sans-IO core of the ScrapingPros hook: the API catalogue, with no sockets.

Each method returns a *flow* (wire.py): a generator that yields `Send(request)` / `Sleep(seconds)`
and receives the answers. Flows build the request (method, path, params, headers, JSON body), run
the one retry loop (flows.py, deciding with retry.py), parse the answer into the pydantic models and
raise the typed exceptions (exceptions.py). A transport (transport.py: `requests` or `httpx`) only
drives flows, so every rule about the API exists once, for sync and async alike.

Design decisions:

* Inputs are checked before any call (the strict request models, choices of filters), and the
  error names the field path (`requests[3].actions.0.selector`); nothing is sent.
* POST /collections always carries an Idempotency-Key, chosen once per logical call (given, else a
  random one), so its retries replay instead of duplicating
  (docs/api-notes.md#collections-and-idempotency).
* POST …/run is never re-sent after an ambiguous failure (calls.ApiCalls.create_run_flow).
* DELETE is retried like any idempotent call; a 404 after an unanswered attempt counts as done.
* `ScrapingProsCore` holds the token only inside its settings (kept out of reprs) and for the
  rate-budget key and `redact()`; requests never carry it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import partial
from typing import Any, TypedDict

from pydantic import TypeAdapter, ValidationError
from typing_extensions import Unpack

from ..exceptions import ScrapingProsValidationError
from .calls import CLAIMED_RUNS, ApiCalls, collection_path, required_id
from .cost import Quota
from .models import (
    MAX_PAGE_SIZE,
    MAX_PAGE_SIZE_WITH_RESULTS,
    Collection,
    CollectionCreate,
    CollectionUpdate,
    Health,
    JobsPage,
    JobsPageHead,
    JobStatus,
    NewCollectionResponse,
    Run,
    RunList,
    RunStatus,
    ScrapeRequest,
    ScrapeResult,
    describe_errors,
)
from .settings import ClientSettings
from .specs import RequestSpecs, validate_request, validate_requests
from .wire import ApiRequest, Flow

_PROBE_NAME = "__airflow_connection_test__"
_COLLECTIONS: TypeAdapter[list[Collection]] = TypeAdapter(list[Collection])
_JOB_STATUSES = tuple(s.value for s in JobStatus)
_RUN_STATUSES = tuple(s.value for s in RunStatus)


class JobFilters(TypedDict, total=False):
    """Filters of GET …/jobs (docs/api-notes.md#jobs-paging-and-inline-results), shared by the page
    call and the iterators."""

    status_filter: Sequence[str] | str | None
    order_by: str | None
    order_dir: str | None
    since_completed_at: datetime | None
    include_results: bool


def iso(value: datetime) -> str:
    """UTC ISO-8601 with microseconds and `Z`; naive datetimes are taken as UTC
    (docs/api-notes.md#wire-conventions)."""
    aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return aware.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _invalid(what: str, exc: ValidationError) -> ScrapingProsValidationError:
    errors = [(e.field, e.message) for e in describe_errors(exc)]
    listed = "; ".join(f"{f}: {m}" for f, m in errors)
    return ScrapingProsValidationError(
        f"Invalid {what}, nothing was sent: {listed}. Fix the named field(s).", errors=errors
    )


def _choice(name: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ScrapingProsValidationError(
            f"Invalid {name} {value!r}, nothing was sent: use one of {', '.join(allowed)}.",
            errors=[(name, f"must be one of {', '.join(allowed)}")],
        )
    return value


@dataclass(frozen=True)
class LazyJobsPage:
    """A jobs page whose cursor is read at once and whose items are parsed when asked (`page()`):
    a reader can request the next page before paying for this one's items."""

    head: JobsPageHead
    page: Callable[[], JobsPage]


def next_cursor(page: JobsPage | JobsPageHead) -> str | None:
    """The cursor of the next page, or None after the last one (the official SDK's rule)."""
    return page.cursor_next if page.has_more and page.cursor_next else None


def _collection_body(name: str, items: list[ScrapeRequest] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name}
    if items is not None:
        body["requests"] = [r.to_api() for r in items]
    return body


class ScrapingProsCore(ApiCalls):
    def __repr__(self) -> str:
        return f"ScrapingProsCore(base_url={self.settings.base_url!r})"

    def with_retry(self, **changes: Any) -> ScrapingProsCore:
        return ScrapingProsCore(replace(self.settings, retry=replace(self.settings.retry, **changes)))

    # --------------------------------------------------------------------------- collections
    def create_collection(
        self,
        name: str,
        requests: RequestSpecs | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Flow[NewCollectionResponse]:
        items = validate_requests(requests) if requests is not None else None
        try:
            CollectionCreate(name=name, requests=items, callback_url=callback_url)
        except ValidationError as exc:
            raise _invalid("collection", exc) from None
        body = _collection_body(name, items)
        if callback_url is not None:
            body["callback_url"] = callback_url
        key = idempotency_key or uuid.uuid4().hex
        request = ApiRequest("POST", "/v1/async/collections", json=body, headers=(("Idempotency-Key", key),))
        return self.call(request, self.parser(NewCollectionResponse.model_validate_json))

    def list_collections(
        self, name: str | None = None, since: datetime | None = None
    ) -> Flow[list[Collection]]:
        params = [("name", name)] if name is not None else []
        if since is not None:
            params.append(("since", iso(since)))
        request = ApiRequest("GET", "/v1/async/collections", tuple(params))
        return self.call(request, self.parser(_COLLECTIONS.validate_json))

    def get_collection(self, collection_id: str) -> Flow[Collection]:
        request = ApiRequest("GET", collection_path(collection_id))
        return self.call(request, self.parser(Collection.model_validate_json))

    def get_collection_quota(self, collection_id: str) -> Flow[tuple[Collection, Quota | None]]:
        """The collection and the account's credits as the answer's `X-Quota-*` headers state them."""
        parse = self.parser(Collection.model_validate_json)
        request = ApiRequest("GET", collection_path(collection_id))
        return self.call(request, lambda r: (parse(r), Quota.from_headers(r.headers)))

    def update_collection(
        self, collection_id: str, name: str, requests: RequestSpecs | None = None
    ) -> Flow[NewCollectionResponse]:
        items = validate_requests(requests) if requests is not None else None
        try:
            CollectionUpdate(name=name, requests=items)
        except ValidationError as exc:
            raise _invalid("collection update", exc) from None
        request = ApiRequest("PUT", collection_path(collection_id), json=_collection_body(name, items))
        return self.call(request, self.parser(NewCollectionResponse.model_validate_json))

    def delete_collection(self, collection_id: str) -> Flow[None]:
        return self.call(ApiRequest("DELETE", collection_path(collection_id)), lambda _: None, gone_ok=True)

    # --------------------------------------------------------------------------- runs
    def create_run(self, collection_id: str) -> Flow[Run]:
        request = ApiRequest("POST", f"{collection_path(collection_id)}/run")
        return self.create_run_flow(request, collection_id)

    def get_run(self, collection_id: str, run_id: str) -> Flow[Run]:
        return self.call(
            ApiRequest("GET", self._run_path(collection_id, run_id)), self.parser(Run.model_validate_json)
        )

    def find_run_since(self, collection_id: str, started: float) -> Flow[Run | None]:
        """The run an unanswered POST …/run made, if any: created since `started` (local epoch; read
        on the server's clock) and not yet handed out in this process."""
        run = yield from self._find_run_since(collection_id, started, lookups=1)
        return CLAIMED_RUNS.claim(run) if run is not None else None

    def list_runs(self, collection_id: str, status_filter: str | None = None) -> Flow[RunList]:
        params = (
            (("status_filter", _choice("status_filter", status_filter, _RUN_STATUSES)),)
            if status_filter
            else ()
        )
        request = ApiRequest("GET", f"{collection_path(collection_id)}/runs", params)
        return self.call(request, self.parser(RunList.model_validate_json))

    # --------------------------------------------------------------------------- jobs and results
    def get_jobs_page(
        self,
        collection_id: str,
        run_id: str,
        *,
        cursor: str | None = None,
        limit: int = 100,
        **filters: Unpack[JobFilters],
    ) -> Flow[JobsPage]:
        request = self._jobs_page_request(collection_id, run_id, cursor, limit, **filters)
        return self.call(request, self.parser(JobsPage.model_validate_json))

    def get_jobs_page_lazy(
        self,
        collection_id: str,
        run_id: str,
        *,
        cursor: str | None = None,
        limit: int = 100,
        **filters: Unpack[JobFilters],
    ) -> Flow[LazyJobsPage]:
        """`get_jobs_page` whose items are parsed (and checked) only when `page()` is called."""
        request = self._jobs_page_request(collection_id, run_id, cursor, limit, **filters)
        parse_head = self.parser(JobsPageHead.model_validate_json)
        parse_page = self.parser(JobsPage.model_validate_json)
        return self.call(request, lambda r: LazyJobsPage(parse_head(r), partial(parse_page, r)))

    def _jobs_page_request(
        self,
        collection_id: str,
        run_id: str,
        cursor: str | None,
        limit: int,
        *,
        status_filter: Sequence[str] | str | None = None,
        order_by: str | None = None,
        order_dir: str | None = None,
        since_completed_at: datetime | None = None,
        include_results: bool = False,
    ) -> ApiRequest:
        if limit < 1:
            raise ScrapingProsValidationError(
                f"Invalid limit {limit}, nothing was sent: use 1 to {MAX_PAGE_SIZE}.",
                errors=[("limit", ">= 1")],
            )
        cap = MAX_PAGE_SIZE_WITH_RESULTS if include_results else MAX_PAGE_SIZE
        params = [("limit", str(min(limit, cap)))]
        if cursor:
            params.append(("cursor", cursor))
        if status_filter:
            statuses = [status_filter] if isinstance(status_filter, str) else list(status_filter)
            parts = [p.strip() for s in statuses for p in s.split(",")]
            params.append(
                ("status_filter", ",".join(_choice("status_filter", p, _JOB_STATUSES) for p in parts))
            )
        if order_by is not None:
            params.append(("order_by", _choice("order_by", order_by, ("id", "completed_at"))))
        if order_dir is not None:
            params.append(("order_dir", _choice("order_dir", order_dir, ("asc", "desc"))))
        if since_completed_at is not None:
            params.append(("since_completed_at", iso(since_completed_at)))
        if include_results:
            params.append(("include_results", "true"))
        return ApiRequest("GET", f"{self._run_path(collection_id, run_id)}/jobs", tuple(params))

    def get_job_result(self, collection_id: str, run_id: str, job_id: str) -> Flow[ScrapeResult]:
        path = f"{self._run_path(collection_id, run_id)}/jobs/{required_id('job_id', job_id)}/result"
        return self.call(ApiRequest("GET", path), self.parser(ScrapeResult.model_validate_json))

    # --------------------------------------------------------------------------- misc
    def scrape(self, request: ScrapeRequest | Mapping[str, Any]) -> Flow[ScrapeResult]:
        api_request = ApiRequest("POST", "/v1/sync/scrape", json=validate_request(request).to_api())
        return self.call(api_request, self.parser(ScrapeResult.model_validate_json))

    def health(self) -> Flow[Health]:
        return self.call(ApiRequest("GET", "/v1/health"), self.parser(Health.model_validate_json))

    def auth_probe(self) -> Flow[list[Collection]]:
        """An authenticated call that spends no credits and returns (almost) nothing."""
        return self.list_collections(name=_PROBE_NAME)

    def run_url(self, collection_id: str, run_id: str) -> str:
        """The run's API resource (links, log lines): ids quoted like every request path."""
        return f"{self.settings.base_url}{self._run_path(collection_id, run_id)}"

    @staticmethod
    def _run_path(collection_id: str, run_id: str) -> str:
        return f"{collection_path(collection_id)}/runs/{required_id('run_id', run_id)}"


__all__ = [
    "ClientSettings",
    "JobFilters",
    "ScrapingProsCore",
    "next_cursor",
]
