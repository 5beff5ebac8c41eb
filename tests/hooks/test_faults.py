"""Safe retries and no duplicates, against the sandbox's fault injection (docs/sandbox.md#s2-fault-profile).

* 1,000 mixed calls under 20 % 5xx + 10 % 429 + 2 % dropped connections all succeed (async twins,
  50 at a time), and a threaded batch through the sync transport does too.
* A lost answer after commit, 50 times on POST /collections and 50 times on POST …/run: the sandbox
  holds exactly one collection / one run per logical call, and POST …/run is never re-sent.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypedDict, TypeVar

import pytest

from airflow_provider_scrapingpros.client.models import NewCollectionResponse, Run
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook

from .helpers import FAST, settled, urls, wait_terminal

PROFILE = {
    "seed": 7,
    "rules": [{"match": "*", "error_5xx": 0.2, "rate_429": 0.1, "drop": 0.02, "retry_after": 1}],
}
COLLECTIONS = "POST /v1/async/collections"
RUN = "POST /v1/async/collections/{cid}/run"
T = TypeVar("T")


class Seeded(TypedDict):
    seeds: list[tuple[NewCollectionResponse, Run]]
    jobs: list[tuple[str, str, str]]  # (collection id, run id, job id)
    targets: list[NewCollectionResponse]


def _faults_seen(sp: Any) -> Counter[str]:
    settled(sp)
    return Counter(item["fault"] for item in sp.requests() if item["fault"])


def _seed(hook: ScrapingProsHook, n_targets: int) -> Seeded:
    """Fault-free setup: finished runs to read, and empty-ish collections to run or update."""
    seeds = [hook.create_collection(f"seed-{i}", urls(3, f"s{i}-")) for i in range(5)]
    runs = [hook.create_run(c.id) for c in seeds]
    for c, r in zip(seeds, runs, strict=True):
        assert wait_terminal(hook, c.id, r.run_id).status == "completed"
    jobs = [(c.id, r.run_id, jid) for c, r in zip(seeds, runs, strict=True) for jid in r.job_ids]
    targets = [hook.create_collection(f"target-{i}", urls(1, f"t{i}-")) for i in range(n_targets)]
    return {"seeds": list(zip(seeds, runs, strict=True)), "jobs": jobs, "targets": targets}


def test_thousand_mixed_async_calls_survive_the_fault_profile(sp: Any, set_conn: Any) -> None:
    set_conn(sp.base_url, **FAST)
    hook = ScrapingProsHook()
    data = _seed(hook, 60)
    before = sp.stats()
    seeds, jobs, targets = data["seeds"], data["jobs"], data["targets"]
    sp.clear_requests()
    sp.set_faults(PROFILE)

    def at(i: int, seq: list[T]) -> T:
        return seq[i % len(seq)]

    Check = Callable[[], Awaitable[bool]]
    calls: list[Check] = []

    def add(n: int, make: Callable[[int], Check]) -> None:
        calls.extend(make(i) for i in range(n))

    async def created(i: int) -> bool:
        return (await hook.acreate_collection(f"mixed-{i}", urls(2, f"m{i}-"))).name == f"mixed-{i}"

    async def ran(i: int) -> bool:
        return (await hook.acreate_run(targets[i].id)).collection_id == targets[i].id

    async def got(i: int) -> bool:
        c, _ = at(i, seeds)
        return (await hook.aget_collection(c.id)).id == c.id

    async def listed(i: int) -> bool:
        c, _ = at(i, seeds)
        return [x.id for x in await hook.alist_collections(name=c.name)] == [c.id]

    async def updated(i: int) -> bool:
        t = targets[50 + i % 10]
        return (await hook.aupdate_collection(t.id, t.name, urls(1, f"u{i}-"))).id == t.id

    async def run_read(i: int) -> bool:
        c, r = at(i, seeds)
        return (await hook.aget_run(c.id, r.run_id)).status == "completed"

    async def runs_listed(i: int) -> bool:
        c, r = at(i, seeds)
        return [x.run_id for x in (await hook.alist_runs(c.id)).items] == [r.run_id]

    async def paged(i: int) -> bool:
        c, r = at(i, seeds)
        return len((await hook.aget_jobs_page(c.id, r.run_id, limit=2)).items) == 2

    async def result(i: int) -> bool:
        cid, rid, jid = at(i, jobs)
        return (await hook.aget_job_result(cid, rid, jid)).message == "OK"

    async def healthy(i: int) -> bool:
        return (await hook.ahealth()).status == "ok"

    add(100, lambda i: lambda: created(i))
    add(50, lambda i: lambda: ran(i))
    add(150, lambda i: lambda: got(i))
    add(100, lambda i: lambda: listed(i))
    add(50, lambda i: lambda: updated(i))
    add(150, lambda i: lambda: run_read(i))
    add(100, lambda i: lambda: runs_listed(i))
    add(150, lambda i: lambda: paged(i))
    add(100, lambda i: lambda: result(i))
    add(50, lambda i: lambda: healthy(i))
    assert len(calls) == 1000
    calls = calls[::2] + calls[1::2]  # interleave kinds

    async def main() -> list[bool]:
        gate = asyncio.Semaphore(50)

        async def one(call: Check) -> bool:
            async with gate:
                return await call()

        async with hook.async_session():
            return await asyncio.gather(*(one(c) for c in calls))

    started = time.monotonic()
    outcomes = asyncio.run(main())
    elapsed = time.monotonic() - started
    faults = _faults_seen(sp)
    sp.set_faults({"rules": []})

    assert outcomes.count(True) == 1000
    after = sp.stats()
    assert after["collections_created"] - before["collections_created"] == 100
    assert after["runs"] - before["runs"] == 50
    # The faults really happened (numbers are seeded draws over ~1,400 requests).
    assert faults["error_5xx"] > 150 and faults["rate_429"] > 75 and faults["drop"] > 10, faults
    assert elapsed < 45, elapsed


def test_threaded_sync_calls_survive_the_fault_profile(sp: Any, set_conn: Any) -> None:
    set_conn(sp.base_url, **FAST)
    hook = ScrapingProsHook()  # one pooled requests.Session shared by the threads
    data = _seed(hook, 0)
    (c, r), before = data["seeds"][0], sp.stats()
    sp.set_faults(PROFILE)

    def call(i: int) -> bool:
        kind = i % 4
        if kind == 0:
            return hook.create_collection(f"threaded-{i}", urls(1, f"x{i}-")).name == f"threaded-{i}"
        if kind == 1:
            return hook.get_run(c.id, r.run_id).run_id == r.run_id
        if kind == 2:
            return len(list(hook.iter_jobs(c.id, r.run_id, page_size=1))) == 3
        return hook.get_job_result(c.id, r.run_id, r.job_ids[i % 3]).message == "OK"

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(call, range(200)))
    faults = _faults_seen(sp)
    sp.set_faults({"rules": []})
    assert outcomes.count(True) == 200
    assert sp.stats()["collections_created"] - before["collections_created"] == 50
    assert faults["error_5xx"] > 20 and faults["rate_429"] > 10, faults


@pytest.mark.parametrize("fault", ["lost_after_commit", "lost_after_commit_5xx"])
def test_lost_collection_answers_never_duplicate(hook: ScrapingProsHook, sp: Any, fault: str) -> None:
    n = 50 if fault == "lost_after_commit" else 10
    ids = []
    for i in range(n):
        sp.script_fault(COLLECTIONS, fault, 1)
        ids.append(hook.create_collection(f"lost-{i}", urls(1, f"c{i}-")).id)
    assert len(set(ids)) == n
    assert sp.stats()["collections_created"] == n
    lost_status = "dropped" if fault == "lost_after_commit" else "502"
    assert settled(sp)["by_route_status"][COLLECTIONS] == {lost_status: n, "201": n}  # commit, then replay
    log = sp.requests(route=COLLECTIONS)
    assert [item["fault"] for item in log] == [fault, None] * n
    keys = [item["idempotency_key"] for item in log]
    assert keys[::2] == keys[1::2] and len(set(keys)) == n  # each retry reused its call's key
    assert sorted(c.id for c in hook.list_collections()) == sorted(ids)


@pytest.mark.parametrize("fault", ["lost_after_commit", "lost_after_commit_5xx"])
def test_lost_run_answers_are_looked_up_never_resent(hook: ScrapingProsHook, sp: Any, fault: str) -> None:
    n = 50 if fault == "lost_after_commit" else 10
    collection = hook.create_collection("lost-runs", urls(2))
    ids = []
    for _ in range(n):  # back to back on one collection: each look-up must find its own run
        sp.script_fault(RUN, fault, 1)
        ids.append(hook.create_run(collection.id).run_id)
    assert len(set(ids)) == n
    assert sp.stats()["runs"] == n
    lost_status = "dropped" if fault == "lost_after_commit" else "502"
    assert settled(sp)["by_route_status"][RUN] == {lost_status: n}  # never re-sent
    assert set(ids) == {r.run_id for r in hook.list_runs(collection.id).items}


@pytest.mark.parametrize("fault", ["error_5xx", "drop", "rate_429"])
def test_run_post_that_did_nothing_is_sent_again_once(hook: ScrapingProsHook, sp: Any, fault: str) -> None:
    collection = hook.create_collection("retry-run", urls(1))
    sp.script_fault(RUN, fault, 1)
    run = hook.create_run(collection.id)
    assert sp.stats()["runs"] == 1
    settled(sp)
    assert [item["fault"] for item in sp.requests(route=RUN)] == [fault, None]
    assert hook.list_runs(collection.id).items[0].run_id == run.run_id
