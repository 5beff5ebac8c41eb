"""ScrapingProsHook: the Airflow face of the sans-IO core (client.py) over two transports.

Every method is one line of mapping: build the core's flow, drive it with the sync transport
(`requests.Session`, pooled, created on first use) or the async one (`httpx.AsyncClient`). The
async twins use `BaseHook.aget_connection` only, so a trigger never blocks its event loop.

Connection: password = API token (masked with Airflow's secrets masker as soon as it is read),
host = base URL (default the public API; the sandbox is just another host), extras `timeout`,
`max_retries`, `webhook_secret` (+ `backoff_base`, `backoff_cap`, `retry_after_cap`). Constructor
arguments override the extras (tests use small backoffs).

`async with hook.async_session():` shares one pooled httpx client across the calls made inside it
(per asyncio task, through a context variable); without it each async call opens its own client
(`aiter_jobs` keeps one for its whole walk). `async_session(shared=True)` leases the event loop's
client for the same API and token instead (client/shared.py): the triggers' way.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import AsyncIterator, Callable, Generator, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, TypeVar

import requests
from airflow.sdk import BaseHook
from airflow.sdk import log as airflow_sdk_log
from airflow.sdk.log import mask_secret
from typing_extensions import Unpack

from .. import CONN_TYPE, DEFAULT_CONN_ID
from ..client.core import JobFilters, LazyJobsPage, ScrapingProsCore, next_cursor
from ..client.cost import Quota
from ..client.models import (
    Collection,
    Health,
    Job,
    JobsPage,
    NewCollectionResponse,
    Run,
    RunList,
    ScrapeRequest,
    ScrapeResult,
    WebhookEvent,
)
from ..client.settings import ClientSettings, settings_from_connection
from ..client.shared import SharedTransport
from ..client.specs import RequestSpecs
from ..client.transports import AsyncTransport, SyncTransport, new_async_client
from ..client.webhooks import verify
from ..client.wire import Flow
from ..exceptions import ScrapingProsAuthError, ScrapingProsError
from ..lineage.hook import report_input, report_output
from .connections import shared_lookup

# Airflow >= 3.2 has an async variant (it avoids a deadlock on the supervisor's channel); 3.1 does not.
_amask_secret: Any = getattr(airflow_sdk_log, "amask_secret", None)

T = TypeVar("T")
# Per asyncio task (context): hook id -> the transport of its enclosing `async_session()`.
_SESSIONS: contextvars.ContextVar[Mapping[int, AsyncTransport]] = contextvars.ContextVar(
    "scrapingpros_sessions", default=MappingProxyType({})
)
_CREATE_LOCK = threading.Lock()


def _capped(core: ScrapingProsCore, max_wait: float | None) -> ScrapingProsCore:
    """`core`, or a copy whose rate-limit waits stop at `max_wait` seconds when that is shorter."""
    if max_wait is None or max_wait >= core.settings.retry.retry_after_cap:
        return core
    return core.with_retry(retry_after_cap=max(0.0, max_wait))


class ScrapingProsHook(BaseHook):
    """Interact with the ScrapingPros API (collections, runs, jobs, results, sync scrape).

    :param scrapingpros_conn_id: Airflow connection of type ``scrapingpros``.
    :param timeout, max_retries, backoff_base, backoff_cap, retry_after_cap: override the extras.
    """

    conn_name_attr = "scrapingpros_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "ScrapingPros"

    def __init__(
        self,
        scrapingpros_conn_id: str = default_conn_name,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        backoff_base: float | None = None,
        backoff_cap: float | None = None,
        retry_after_cap: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.scrapingpros_conn_id = scrapingpros_conn_id
        self._overrides = {
            "timeout": timeout,
            "max_retries": max_retries,
            "backoff_base": backoff_base,
            "backoff_cap": backoff_cap,
            "retry_after_cap": retry_after_cap,
        }
        self._core_cache: ScrapingProsCore | None = None
        self._sync: SyncTransport | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scrapingpros_conn_id={self.scrapingpros_conn_id!r})"

    # ------------------------------------------------------------------------- connection
    def _settings(self, conn: Any) -> ClientSettings:
        return settings_from_connection(
            conn_id=self.scrapingpros_conn_id,
            host=conn.host,
            port=conn.port,
            password=conn.password,
            extra=conn.extra_dejson,
            overrides=self._overrides,
        )

    @property
    def core(self) -> ScrapingProsCore:
        if self._core_cache is None:
            conn = self.get_connection(self.scrapingpros_conn_id)
            self._check_type(conn)
            if conn.password:
                mask_secret(conn.password)
            self._core_cache = self._new_core(conn)
        return self._core_cache

    async def acore(self) -> ScrapingProsCore:
        if self._core_cache is None:
            # the hooks asking together on this loop share one lookup (hooks/connections.py)
            conn, fetched = await shared_lookup(self.scrapingpros_conn_id, self._afetch_connection)
            self._check_type(conn)
            self._core_cache = self._new_core(conn, announce=fetched)
        return self._core_cache

    async def _afetch_connection(self, conn_id: str) -> Any:
        conn = await self.aget_connection(conn_id)
        if conn.password:
            if _amask_secret is not None:
                await _amask_secret(conn.password)
            else:
                mask_secret(conn.password)
        return conn

    def _check_type(self, conn: Any) -> None:
        """Another type's password (an AWS secret, an HTTP password) must never travel as our token."""
        if conn.conn_type != CONN_TYPE:
            raise ScrapingProsAuthError(
                f"Airflow connection '{self.scrapingpros_conn_id}' is of type '{conn.conn_type}', not "
                f"'{CONN_TYPE}': its password is not sent to ScrapingPros. Point the task at a connection "
                f"of type '{CONN_TYPE}' (scrapingpros_conn_id), or fix this connection's type."
            )

    def _new_core(self, conn: Any, *, announce: bool = True) -> ScrapingProsCore:
        core = ScrapingProsCore(self._settings(conn))
        # Once per connection lookup: says which API (the sandbox or the real one) a task talks to,
        # never the token. Not once per trigger: a thousand triggers sharing one lookup would log
        # the same line a thousand times on the triggerer's loop.
        if announce:
            self.log.info(
                "Using the ScrapingPros API at %s (connection '%s').",
                core.settings.base_url,
                self.scrapingpros_conn_id,
            )
        return core

    @property
    def base_url(self) -> str:
        return self.core.settings.base_url

    def run_url(self, collection_id: str, run_id: str) -> str:
        """Link to the run (extra links, log lines). Reads the connection once (sync)."""
        return self.core.run_url(collection_id, run_id)

    def get_conn(self) -> requests.Session:
        """The pooled session the sync methods use (token already in its headers)."""
        return self._transport().session

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    def _transport(self) -> SyncTransport:
        if self._sync is None:
            with _CREATE_LOCK:  # threads sharing one hook must share one pool
                if self._sync is None:
                    self._sync = SyncTransport(self.core.settings)
        return self._sync

    def _run(self, make: Callable[[ScrapingProsCore], Flow[T]], max_wait: float | None = None) -> T:
        return self._transport().run(make(_capped(self.core, max_wait)))

    @contextlib.asynccontextmanager
    async def _atransport(self, core: ScrapingProsCore) -> AsyncIterator[AsyncTransport]:
        """The transport of the enclosing `async_session()`, else one over a new client closed on exit."""
        active = _SESSIONS.get().get(id(self))
        if active is not None:
            yield active
            return
        async with await new_async_client(core.settings) as client:
            yield AsyncTransport(core.settings, client)

    async def _arun(self, make: Callable[[ScrapingProsCore], Flow[T]], max_wait: float | None = None) -> T:
        core = await self.acore()
        async with self._atransport(core) as transport:
            return await transport.run(make(_capped(core, max_wait)))

    def async_session(self, *, shared: bool = False) -> AsyncSession:
        """Share one pooled httpx client across the async calls made inside the block (and in the
        tasks it starts): `async with hook.async_session():`.

        :param shared: lease the event loop's client for this API and token (client/shared.py)
            instead of opening one: what triggers do, hundreds of them on the triggerer's loop.
        """
        return AsyncSession(self, shared)

    # ------------------------------------------------------------------------- collections
    def create_collection(
        self,
        name: str,
        requests: RequestSpecs | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> NewCollectionResponse:
        return self._run(lambda c: c.create_collection(name, requests, callback_url, idempotency_key))

    async def acreate_collection(
        self,
        name: str,
        requests: RequestSpecs | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> NewCollectionResponse:
        return await self._arun(lambda c: c.create_collection(name, requests, callback_url, idempotency_key))

    def list_collections(self, name: str | None = None, since: datetime | None = None) -> list[Collection]:
        return self._run(lambda c: c.list_collections(name, since))

    async def alist_collections(
        self, name: str | None = None, since: datetime | None = None
    ) -> list[Collection]:
        return await self._arun(lambda c: c.list_collections(name, since))

    def get_collection(self, collection_id: str) -> Collection:
        report_input(self, collection_id)
        return self._run(lambda c: c.get_collection(collection_id))

    async def aget_collection(self, collection_id: str) -> Collection:
        return await self._arun(lambda c: c.get_collection(collection_id))

    def get_collection_quota(self, collection_id: str) -> tuple[Collection, Quota | None]:
        return self._run(lambda c: c.get_collection_quota(collection_id))

    def update_collection(
        self, collection_id: str, name: str, requests: RequestSpecs | None = None
    ) -> NewCollectionResponse:
        report_output(self, collection_id)
        return self._run(lambda c: c.update_collection(collection_id, name, requests))

    async def aupdate_collection(
        self, collection_id: str, name: str, requests: RequestSpecs | None = None
    ) -> NewCollectionResponse:
        return await self._arun(lambda c: c.update_collection(collection_id, name, requests))

    def delete_collection(self, collection_id: str) -> None:
        self._run(lambda c: c.delete_collection(collection_id))

    async def adelete_collection(self, collection_id: str) -> None:
        await self._arun(lambda c: c.delete_collection(collection_id))

    # ------------------------------------------------------------------------- runs
    def create_run(self, collection_id: str) -> Run:
        """Start a run. Never re-sent blindly: after an ambiguous failure the run is looked up."""
        return self._run(lambda c: c.create_run(collection_id))

    async def acreate_run(self, collection_id: str) -> Run:
        return await self._arun(lambda c: c.create_run(collection_id))

    def get_run(self, collection_id: str, run_id: str, *, max_wait: float | None = None) -> Run:
        """`max_wait`: the longest this call may wait on the rate limit (this token's spent budget,
        a 429's Retry-After), e.g. the time left before a deadline; a longer wait raises
        `ScrapingProsRateLimitError` at once. Default: the connection's `retry_after_cap`."""
        report_input(self, collection_id, run_id)
        return self._run(lambda c: c.get_run(collection_id, run_id), max_wait)

    async def aget_run(self, collection_id: str, run_id: str, *, max_wait: float | None = None) -> Run:
        return await self._arun(lambda c: c.get_run(collection_id, run_id), max_wait)

    def find_run_since(self, collection_id: str, started: float) -> Run | None:
        """The run a POST …/run sent at or after `started` (epoch s) created, if the API has one."""
        return self._run(lambda c: c.find_run_since(collection_id, started))

    def list_runs(self, collection_id: str, status_filter: str | None = None) -> RunList:
        return self._run(lambda c: c.list_runs(collection_id, status_filter))

    async def alist_runs(self, collection_id: str, status_filter: str | None = None) -> RunList:
        return await self._arun(lambda c: c.list_runs(collection_id, status_filter))

    # ------------------------------------------------------------------------- jobs and results
    def get_jobs_page(
        self,
        collection_id: str,
        run_id: str,
        *,
        cursor: str | None = None,
        limit: int = 100,
        **filters: Unpack[JobFilters],
    ) -> JobsPage:
        """One page of jobs. Filters: status_filter (str, CSV or list), order_by (id|completed_at),
        order_dir (asc|desc), since_completed_at (strictly after), include_results (inline bodies;
        caps the page at 100)."""
        report_input(self, collection_id, run_id)
        return self._run(
            lambda c: c.get_jobs_page(collection_id, run_id, cursor=cursor, limit=limit, **filters)
        )

    def get_jobs_page_lazy(
        self,
        collection_id: str,
        run_id: str,
        *,
        cursor: str | None = None,
        limit: int = 100,
        **filters: Unpack[JobFilters],
    ) -> LazyJobsPage:
        """`get_jobs_page` with the items parsed on `.page()`: the cursor (`.head`) is known first,
        so the next page can be requested while this one is parsed."""
        report_input(self, collection_id, run_id)
        return self._run(
            lambda c: c.get_jobs_page_lazy(collection_id, run_id, cursor=cursor, limit=limit, **filters)
        )

    async def aget_jobs_page(
        self,
        collection_id: str,
        run_id: str,
        *,
        cursor: str | None = None,
        limit: int = 100,
        **filters: Unpack[JobFilters],
    ) -> JobsPage:
        return await self._arun(
            lambda c: c.get_jobs_page(collection_id, run_id, cursor=cursor, limit=limit, **filters)
        )

    def iter_jobs(
        self, collection_id: str, run_id: str, *, page_size: int = 100, **filters: Unpack[JobFilters]
    ) -> Generator[Job, None, None]:
        """Every job, page by page, following cursors; one page in memory at a time, fetched lazily.
        A generator, so a caller that stops early can `close()` it."""
        cursor: str | None = None
        while True:
            page = self.get_jobs_page(collection_id, run_id, cursor=cursor, limit=page_size, **filters)
            yield from page.items
            if (cursor := next_cursor(page)) is None:
                return

    async def aiter_jobs(
        self, collection_id: str, run_id: str, *, page_size: int = 100, **filters: Unpack[JobFilters]
    ) -> AsyncIterator[Job]:
        # One client for the whole walk, held by this generator (not via the context variable: an
        # async generator may be finalised in another task's context).
        core = await self.acore()
        async with self._atransport(core) as transport:
            cursor: str | None = None
            while True:
                flow = core.get_jobs_page(collection_id, run_id, cursor=cursor, limit=page_size, **filters)
                page = await transport.run(flow)
                for job in page.items:
                    yield job
                if (cursor := next_cursor(page)) is None:
                    return

    def get_job_result(self, collection_id: str, run_id: str, job_id: str) -> ScrapeResult:
        report_input(self, collection_id, run_id)
        return self._run(lambda c: c.get_job_result(collection_id, run_id, job_id))

    async def aget_job_result(self, collection_id: str, run_id: str, job_id: str) -> ScrapeResult:
        return await self._arun(lambda c: c.get_job_result(collection_id, run_id, job_id))

    # ------------------------------------------------------------------------- misc
    def scrape(self, request: ScrapeRequest | Mapping[str, Any]) -> ScrapeResult:
        """Synchronous scrape of one URL (charges credits)."""
        return self._run(lambda c: c.scrape(request))

    async def ascrape(self, request: ScrapeRequest | Mapping[str, Any]) -> ScrapeResult:
        return await self._arun(lambda c: c.scrape(request))

    def health(self) -> Health:
        return self._run(lambda c: c.health())

    async def ahealth(self) -> Health:
        return await self._arun(lambda c: c.health())

    def test_connection(self) -> tuple[bool, str]:
        """Health plus one authenticated call that spends no credits; one retry at most."""
        try:
            core = self.core.with_retry(max_retries=min(1, self.core.settings.retry.max_retries))
            transport = self._transport()
            health = transport.run(core.health())
            transport.run(core.auth_probe())
        except (ScrapingProsError, ValueError) as exc:
            return False, str(exc)
        return True, f"Connected to {core.settings.base_url}: API {health.status}, token accepted."

    def verify_webhook(
        self, body: bytes, signature: str | None, timestamp: str | None, *, now: float | None = None
    ) -> WebhookEvent:
        """Check a webhook delivery with the connection's `webhook_secret`; return its event."""
        secret = self.core.settings.webhook_secret
        if not secret:
            raise ValueError(
                f"Airflow connection '{self.scrapingpros_conn_id}' has no `webhook_secret` extra: add the "
                "secret configured for your ScrapingPros account."
            )
        return verify(secret, body, signature, timestamp, now=now)


class AsyncSession:
    """What `ScrapingProsHook.async_session()` returns. A plain context manager, not a generator-based
    one: a trigger holds its session while it waits, and a generator-based one is ~7 more GC-tracked
    objects a trigger (client/shared.py says why that counts)."""

    __slots__ = ("_hook", "_opened", "_shared", "_token")

    def __init__(self, hook: ScrapingProsHook, shared: bool) -> None:
        self._hook = hook
        self._shared = shared
        self._opened: contextlib.AbstractAsyncContextManager[AsyncTransport] | None = None
        self._token: contextvars.Token[Mapping[int, AsyncTransport]] | None = None

    async def __aenter__(self) -> ScrapingProsHook:
        hook = self._hook
        core = await hook.acore()
        opened = SharedTransport(core.settings) if self._shared else hook._atransport(core)
        transport = await opened.__aenter__()
        self._opened = opened
        self._token = _SESSIONS.set({**_SESSIONS.get(), id(hook): transport})
        return hook

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        opened, token = self._opened, self._token
        self._opened = self._token = None
        if token is not None:
            _SESSIONS.reset(token)
        if opened is None:
            return None
        return await opened.__aexit__(*exc_info)
