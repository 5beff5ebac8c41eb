"""One pooled httpx client per event loop and API identity, leased by the async sessions on it.

Why: the triggerer runs every trigger on one event loop. With a client of its own, each waiting
run trigger kept a keep-alive socket and ~60 GC-tracked objects (pool, locks, cookie jar, headers,
the connection's stream): heap that every generation-2 collection walks while the loop waits, and
after a triggerer restart a thousand connections opened in the same few loop steps. One client per
(loop, base URL, token, timeout) bounds the sockets to its pool and lets polls reuse warm
connections; its transport's gate keeps the requests beyond the pool's size waiting outside it.

The client is closed when its last lease ends; a loop's entries go with the loop (weak keys), so
a client is never used on a loop it was not made on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass

from .settings import ClientSettings
from .transports import POOL_SIZE, AsyncTransport, async_client, ssl_context


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


@contextlib.asynccontextmanager
async def shared_transport(settings: ClientSettings) -> AsyncIterator[AsyncTransport]:
    leases = _LEASES.setdefault(asyncio.get_running_loop(), {})
    key = _identity(settings)
    lease = leases.get(key)
    if lease is None:
        verify = await ssl_context()  # the only await in making a client: before looking again
        lease = leases.get(key)
        if lease is None:
            client = async_client(settings, verify)
            lease = leases[key] = _Lease(AsyncTransport(settings, client, asyncio.Semaphore(POOL_SIZE)))
    lease.holders += 1
    try:
        yield lease.transport
    finally:
        lease.holders -= 1
        if lease.holders == 0:
            if leases.get(key) is lease:
                del leases[key]
            await lease.transport.client.aclose()
