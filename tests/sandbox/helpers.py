"""Small shared helpers for the sandbox conformance tests.

The tests speak two dialects on purpose: the official SDK (the client the sandbox must satisfy
unmodified) and plain HTTP via `httpx` (to see status codes, headers and raw bodies the SDK hides).
Everything here is transport plumbing; assertions live in the tests and in `invariants.py`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, Union
from urllib.parse import urlencode

import httpx
from scrapingpros import ScrapeRequest, SyncClient

TOKEN = "sp_sandbox_dev"  # Enterprise plan in the sandbox's default token table
WEBHOOK_SECRET = "sp_sandbox_dev_secret"
COLLECTIONS = "/v1/async/collections"
TERMINAL_RUN = frozenset({"completed", "failed", "cancelled"})
TERMINAL_JOB = frozenset({"completed", "failed", "timeout"})

# Route templates as the request log and fault matcher name them (sandbox interface).
R_COLLECTIONS = "POST /v1/async/collections"
R_LIST_COLLECTIONS = "GET /v1/async/collections"
R_COLLECTION = "GET /v1/async/collections/{cid}"
R_CREATE_RUN = "POST /v1/async/collections/{cid}/run"
R_RUNS = "GET /v1/async/collections/{cid}/runs"
R_RUN = "GET /v1/async/collections/{cid}/runs/{rid}"
R_JOBS = "GET /v1/async/collections/{cid}/runs/{rid}/jobs"
R_RESULT = "GET /v1/async/collections/{cid}/runs/{rid}/jobs/{jid}/result"
R_SCRAPE = "POST /v1/sync/scrape"
R_HEALTH = "GET /v1/health"
R_PLANS = "GET /v1/plans"

T = TypeVar("T")
# What the SDK's submit_batch accepts for dict items (its parameter type is an invariant list).
BatchItems = list[Union[ScrapeRequest, dict[str, Any]]]  # noqa: UP007 (runtime alias on 3.10)


def url(path: str, **hints: Any) -> str:
    """A public target URL with outcome hints (docs/sandbox.md#s1-outcome-rules); the sandbox never
    contacts it."""
    query = f"?{urlencode(hints)}" if hints else ""
    return f"https://example.com/{path}{query}"


def http(base_url: str, token: str | None = TOKEN) -> httpx.Client:
    """A keep-alive plain-HTTP client, authenticated like the SDK (JSON content type included)."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=base_url, headers=headers, timeout=30.0)


def run_path(cid: str, rid: str) -> str:
    return f"{COLLECTIONS}/{cid}/runs/{rid}"


def wait_for(check: Callable[[], T | None], *, timeout: float = 10.0, what: str = "condition") -> T:
    """Poll `check` until it returns something other than None (real-clock sandboxes only)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


def create_collection(
    api: httpx.Client, requests: list[Any], *, name: str = "conformance", **extra: Any
) -> dict[str, Any]:
    resp = api.post(COLLECTIONS, json={"name": name, "requests": requests, **extra})
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def start_run(api: httpx.Client, cid: str) -> dict[str, Any]:
    resp = api.post(f"{COLLECTIONS}/{cid}/run")
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def submit(api: httpx.Client, requests: list[Any], **extra: Any) -> tuple[str, str]:
    """Create a collection and start one run; returns (collection_id, run_id)."""
    cid = str(create_collection(api, requests, **extra)["id"])
    return cid, str(start_run(api, cid)["run_id"])


def get_run(api: httpx.Client, cid: str, rid: str) -> dict[str, Any]:
    resp = api.get(run_path(cid, rid))
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def wait_run(api: httpx.Client, cid: str, rid: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """Wait on a real-clock sandbox until the run is terminal; returns the run."""

    def terminal() -> dict[str, Any] | None:
        run = get_run(api, cid, rid)
        return run if run["status"] in TERMINAL_RUN else None

    return wait_for(terminal, timeout=timeout, what=f"run {rid} to end")


def list_jobs(api: httpx.Client, cid: str, rid: str, **params: Any) -> list[dict[str, Any]]:
    """Every job across pages, following `cursor_next` with the same filters."""
    items: list[dict[str, Any]] = []
    for page in iter_pages(api, cid, rid, **params):
        items.extend(page["items"])
    return items


def iter_pages(api: httpx.Client, cid: str, rid: str, **params: Any) -> Iterator[dict[str, Any]]:
    cursor: str | None = None
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        resp = api.get(f"{run_path(cid, rid)}/jobs", params=query)
        assert resp.status_code == 200, resp.text
        page: dict[str, Any] = resp.json()
        yield page
        assert (page["cursor_next"] is not None) == page["has_more"], page
        if not page["has_more"]:
            return
        cursor = page["cursor_next"]


@contextmanager
def sdk_client(base_url: str, token: str = TOKEN, **settings: Any) -> Iterator[SyncClient]:
    client = SyncClient(token, base_url=base_url, **settings)
    try:
        yield client
    finally:
        client.close()
