"""One pooled httpx client per event loop and API identity, leased by the async sessions on it.

Why: the triggerer runs every trigger on one event loop. With a client of its own, each waiting
run trigger kept a keep-alive socket and ~60 GC-tracked objects (pool, locks, cookie jar, headers,
the connection's stream): heap that every generation-2 collection walks while the loop waits, and
after a triggerer restart a thousand connections opened in the same few loop steps. One client per
(loop, base URL, token, timeout) bounds the sockets to its pool and lets polls reuse warm
connections; its transport's gate keeps the requests beyond the pool's size waiting outside it.

Its pool is smaller than a task's (16 connections, not 64): httpcore's pool walks every pair of
its connections on each request and each release, so with 64 keep-alive connections a poll cost
~3 ms of pool bookkeeping on the loop (bench/triggerer.py, profiled), with 16 a sixteenth of that.
16 requests in flight still carry ~6,000 requests a minute at 150 ms a round trip, more than a
plan allows.

The client is closed when its last lease ends; a loop's entries go with the loop (weak keys), so
a client is never used on a loop it was not made on.
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from dataclasses import dataclass

from .settings import ClientSettings
from .transports import AsyncTransport, async_client, ssl_context

SHARED_POOL_SIZE = 16


@dataclass
class _Lease:
    transport: AsyncTransport
    holders: int = 0


_LEASES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Lease]] = weakref.WeakKeyDictionary()


def _identity(settings: ClientSettings) -> str:
    """What makes two clients interchangeable; hashed, so no key or repr shows the token."""
    raw = f"{settings.base_url}\0{settings.token}\0{settings.timeout!r}"
    return hashlib.sha256(raw.encode()).hexdigest()


def leases_on(loop: asyncio.AbstractEventLoop) -> int:
    """How many clients this loop holds open (tests and benchmarks look)."""
    return len(_LEASES.get(loop, {}))


class SharedTransport:
    """`async with SharedTransport(settings) as transport:` leases the loop's client for `settings`.

    A plain context manager, not a generator-based one: a waiting trigger holds its lease for
    hours, and a generator with its frame, its context manager and asyncio's weak reference to it
    is ~7 more GC-tracked objects a trigger."""

    __slots__ = ("_key", "_lease", "_leases", "_settings")

    def __init__(self, settings: ClientSettings) -> None:
        self._settings = settings
        self._leases: dict[str, _Lease] = {}
        self._key = ""
        self._lease: _Lease | None = None

    async def __aenter__(self) -> AsyncTransport:
        leases = _LEASES.setdefault(asyncio.get_running_loop(), {})
        key = _identity(self._settings)
        lease = leases.get(key)
        if lease is None:
            verify = await ssl_context()  # the only await in making a client: before looking again
            lease = leases.get(key)
            if lease is None:
                client = async_client(self._settings, verify, SHARED_POOL_SIZE)
                gate = asyncio.Semaphore(SHARED_POOL_SIZE)
                lease = leases[key] = _Lease(AsyncTransport(self._settings, client, gate))
        lease.holders += 1
        self._leases, self._key, self._lease = leases, key, lease
        return lease.transport

    async def __aexit__(self, *exc_info: object) -> None:
        lease, self._lease = self._lease, None
        if lease is None:
            return
        lease.holders -= 1
        if lease.holders == 0:
            if self._leases.get(self._key) is lease:
                del self._leases[self._key]
            await lease.transport.client.aclose()
