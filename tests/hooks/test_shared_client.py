"""`async_session(shared=True)`: the sessions on one event loop for one API and token lease one
client (client/shared.py), which keeps at most the pool's size of requests at the server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from airflow_provider_scrapingpros.client.shared import SHARED_POOL_SIZE, leases_on
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook

from .helpers import DEV_TOKEN, FAST, urls

GET_RUN = "GET /v1/async/collections/{cid}/runs/{rid}"
OTHER_TOKEN = "sp_shared_other"


def _max_overlap(items: list[dict[str, Any]]) -> int:
    """The most requests the sandbox was serving at one moment (each logged with its end and length)."""
    edges = sorted(
        edge for i in items for edge in ((i["wall_time"] - i["duration_ms"] / 1000, 1), (i["wall_time"], -1))
    )
    busy = peak = 0
    for _, step in edges:
        busy += step
        peak = max(peak, busy)
    return peak


def test_sessions_on_one_loop_lease_one_client_per_token(
    sp: Any, set_conn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_conn(sp.base_url, **FAST)
    sp.set_token(DEV_TOKEN, rate_limit_enabled=False)
    sp.set_token(OTHER_TOKEN, rate_limit_enabled=False)
    other = {"conn_type": "scrapingpros", "host": sp.base_url, "password": OTHER_TOKEN, "extra": FAST}
    monkeypatch.setenv("AIRFLOW_CONN_SP_OTHER", json.dumps(other))
    setup = ScrapingProsHook()
    cid = setup.create_collection("shared", urls(1)).id
    rid = setup.create_run(cid).run_id
    other_cid = ScrapingProsHook("sp_other").create_collection("other", urls(1)).id
    other_rid = ScrapingProsHook("sp_other").create_run(other_cid).run_id
    inside: list[int] = []
    release = asyncio.Event()

    async def poll(conn_id: str, c: str, r: str) -> str:
        hook = ScrapingProsHook(conn_id)  # a hook of its own, as each trigger has
        async with hook.async_session(shared=True):
            run = await hook.aget_run(c, r)
            inside.append(leases_on(asyncio.get_running_loop()))
            await release.wait()
            return run.run_id

    async def scenario() -> tuple[list[str], int, int]:
        loop = asyncio.get_running_loop()
        tasks = [asyncio.create_task(poll("scrapingpros_default", cid, rid)) for _ in range(30)]
        tasks += [asyncio.create_task(poll("sp_other", other_cid, other_rid)) for _ in range(10)]
        while len(inside) < 40:  # noqa: ASYNC110 (a count, not one event)
            await asyncio.sleep(0.01)
        held = leases_on(loop)
        release.set()
        done = await asyncio.gather(*tasks)
        return done, held, leases_on(loop)

    done, held, after = asyncio.run(scenario())
    assert done == [rid] * 30 + [other_rid] * 10
    assert (held, after) == (2, 0)  # one client per token while they ran, none once the last left


def test_the_gate_keeps_the_server_at_the_pools_size(sp: Any, set_conn: Any) -> None:
    """200 polls at once, each from a hook of its own, through the leased client: at most 16 are
    at the server at any moment (own clients would put all 200 there), and all succeed."""
    set_conn(sp.base_url, **FAST)
    sp.set_token(DEV_TOKEN, rate_limit_enabled=False)
    setup = ScrapingProsHook()
    cid = setup.create_collection("gate", urls(1)).id
    rid = setup.create_run(cid).run_id
    seq = sp.requests()[-1]["seq"]
    sp.set_faults({"rules": [{"match": GET_RUN, "latency_ms": 300}]})

    async def poll() -> str:
        hook = ScrapingProsHook()
        async with hook.async_session(shared=True):
            return (await hook.aget_run(cid, rid)).run_id

    async def scenario() -> list[str]:
        return list(await asyncio.gather(*(poll() for _ in range(200))))

    try:
        assert asyncio.run(scenario()) == [rid] * 200
    finally:
        sp.set_faults({"rules": []})
    polls = [r for r in sp.requests(route=GET_RUN, since_seq=seq) if r["status"] == 200]
    assert (len(polls), _max_overlap(polls)) == (200, SHARED_POOL_SIZE)


def test_an_unshared_session_keeps_its_own_client(sp: Any, set_conn: Any) -> None:
    set_conn(sp.base_url, **FAST)
    hook = ScrapingProsHook()

    async def scenario() -> int:
        async with hook.async_session():
            await hook.ahealth()
            return leases_on(asyncio.get_running_loop())

    assert asyncio.run(scenario()) == 0
