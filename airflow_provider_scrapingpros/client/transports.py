"""The two transports: they drive the core's flows and move bytes, nothing else.

`SyncTransport` uses one pooled, keep-alive `requests.Session`; `AsyncTransport` one
`httpx.AsyncClient`. Both turn library exceptions into a `TransportError` with one of three
meanings the retry rules need (retry.Failure): CONNECT (nothing was sent: safe to re-send),
TIMEOUT and DROPPED (the server may have acted: ambiguous).

Event-loop hygiene (the triggerer must never block):
* sleeping is `await asyncio.sleep`; the rate budget is arithmetic only (ratelimit.py);
* the TLS context is built once per process, off the loop (loading CA certificates takes tens of ms);
* a large answer (a jobs page with inline HTML) is parsed in a loop step of its own, not in the
  step that finished reading it. Not in a worker thread: pydantic-core holds the GIL for a whole
  `validate_json`, so a worker would stall the loop thread mid-step anyway (measured: 60-80 ms
  steps); parsing an 8 MB page on the loop takes 3-7 ms.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import requests
from requests.adapters import HTTPAdapter

from .retry import Failure
from .settings import ClientSettings
from .wire import ApiRequest, ApiResponse, Flow, Send, Sleep, TransportError

T = TypeVar("T")

_USER_AGENT = "airflow-provider-scrapingpros"
POOL_SIZE = 64
_OWN_STEP_BYTES = 256 * 1024
_CONNECT_TIMEOUT_CAP = 10.0
# `Response.content` reads in 10 KiB slices: 60 GIL hand-offs for one 600 KB jobs page, each of
# which can wait a whole switch interval (5 ms) while the export's main thread is busy.
_READ_CHUNK = 1024 * 1024


def _step(flow: Flow[T], value: Any) -> tuple[bool, Any]:
    """Resume `flow` with `value`: (False, next action) or (True, the flow's result)."""
    try:
        return False, flow.send(value)
    except StopIteration as stop:
        return True, stop.value


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def _headers(raw: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in raw.items()}


# ------------------------------------------------------------------------------------------ sync


def _requests_failure(exc: requests.RequestException) -> Failure:
    if isinstance(exc, requests.ConnectTimeout):  # before ConnectionError: it is both
        return Failure.CONNECT
    if isinstance(exc, requests.Timeout):
        return Failure.TIMEOUT
    if isinstance(exc, requests.ConnectionError):
        text = repr(exc.args[0] if exc.args else exc)
        # urllib3 wraps "could not connect" in NewConnectionError / NameResolutionError.
        if "NewConnectionError" in text or "NameResolutionError" in text or "ConnectionRefused" in text:
            return Failure.CONNECT
    return Failure.DROPPED


class SyncTransport:
    def __init__(self, settings: ClientSettings, sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self._sleep = sleep
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers.update({"User-Agent": _USER_AGENT, **settings.auth_headers()})
        self.session.trust_env = True

    def __repr__(self) -> str:
        return f"SyncTransport(base_url={self.settings.base_url!r})"

    def send(self, request: ApiRequest) -> ApiResponse | TransportError:
        timeout = self.settings.timeout
        try:
            response = self.session.request(
                request.method,
                self.settings.base_url + request.path,
                params=list(request.params),
                json=request.json,
                headers=dict(request.headers),
                timeout=(min(timeout, _CONNECT_TIMEOUT_CAP), timeout),
                allow_redirects=False,
                stream=True,
            )
            with response:
                body = b"".join(response.iter_content(_READ_CHUNK))
        except requests.RequestException as exc:
            return TransportError(_requests_failure(exc), _describe(exc))
        return ApiResponse(response.status_code, _headers(response.headers), body)

    def run(self, flow: Flow[T]) -> T:
        value: Any = None
        try:
            while True:
                done, value = _step(flow, value)
                if done:
                    return value  # type: ignore[no-any-return]
                if isinstance(value, Sleep):
                    self._sleep(value.seconds)
                    value = None
                else:
                    assert isinstance(value, Send)
                    value = self.send(value.request)
        finally:
            flow.close()

    def close(self) -> None:
        self.session.close()


# ----------------------------------------------------------------------------------------- async

_SSL_CONTEXT: ssl.SSLContext | None = None
_SSL_LOCK = threading.Lock()


def _build_ssl_context() -> ssl.SSLContext:
    global _SSL_CONTEXT
    with _SSL_LOCK:
        if _SSL_CONTEXT is None:
            _SSL_CONTEXT = httpx.create_ssl_context()
        return _SSL_CONTEXT


async def ssl_context() -> ssl.SSLContext:
    if _SSL_CONTEXT is not None:
        return _SSL_CONTEXT
    return await asyncio.to_thread(_build_ssl_context)


async def new_async_client(settings: ClientSettings) -> httpx.AsyncClient:
    return async_client(settings, await ssl_context())


def async_client(
    settings: ClientSettings, verify: ssl.SSLContext, pool_size: int = POOL_SIZE
) -> httpx.AsyncClient:
    timeout = settings.timeout
    return httpx.AsyncClient(
        headers={"User-Agent": _USER_AGENT, **settings.auth_headers()},
        timeout=httpx.Timeout(timeout, connect=min(timeout, _CONNECT_TIMEOUT_CAP)),
        limits=httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size),
        verify=verify,
        follow_redirects=False,
    )


def _httpx_failure(exc: httpx.TransportError) -> Failure:
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return Failure.CONNECT
    if isinstance(exc, httpx.TimeoutException):
        return Failure.TIMEOUT
    return Failure.DROPPED


class AsyncTransport:
    """`gate`, when given, bounds the requests in flight to the pool's size: the others wait on the
    semaphore (woken in O(1)) instead of in httpcore's queue, which it scans in full, against every
    connection, on every request and every release."""

    def __init__(
        self, settings: ClientSettings, client: httpx.AsyncClient, gate: asyncio.Semaphore | None = None
    ) -> None:
        self.settings = settings
        self.client = client
        self.gate = gate

    def __repr__(self) -> str:
        return f"AsyncTransport(base_url={self.settings.base_url!r})"

    async def send(self, request: ApiRequest) -> ApiResponse | TransportError:
        if self.gate is None:
            return await self._send(request)
        async with self.gate:
            return await self._send(request)

    async def _send(self, request: ApiRequest) -> ApiResponse | TransportError:
        try:
            response = await self.client.request(
                request.method,
                self.settings.base_url + request.path,
                params=list(request.params),
                json=request.json,
                headers=dict(request.headers),
            )
        except httpx.TransportError as exc:
            return TransportError(_httpx_failure(exc), _describe(exc))
        return ApiResponse(response.status_code, _headers(response.headers), response.content)

    async def run(self, flow: Flow[T]) -> T:
        value: Any = None
        try:
            while True:
                if isinstance(value, ApiResponse) and len(value.body) > _OWN_STEP_BYTES:
                    await asyncio.sleep(0)  # end the reading step; parse in the next one
                done, value = _step(flow, value)
                if done:
                    return value  # type: ignore[no-any-return]
                if isinstance(value, Sleep):
                    await asyncio.sleep(value.seconds)
                    value = None
                else:
                    assert isinstance(value, Send)
                    value = await self.send(value.request)
        finally:
            flow.close()
