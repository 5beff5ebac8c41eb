"""ScrapingProsRunCompletedTrigger against the sandbox over loopback: one event per finished run.

Runs are started straight over HTTP on a frozen sandbox clock and finished by advancing it, so
which runs end before or after a (simulated) triggerer restart is decided by the test, not by the
machine's speed. A job takes 40 s of simulated latency, 0.4 s of sandbox clock at the session
sandbox's time scale of 0.01.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from airflow_provider_scrapingpros.exceptions import ScrapingProsInputError, ScrapingProsNotFoundError
from airflow_provider_scrapingpros.runs.completion import RunCompleted
from airflow_provider_scrapingpros.runs.cursor import RunCursor
from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from airflow_provider_scrapingpros.triggers.events import (
    AssetStateCursorStore,
    FallbackCursorStore,
    MemoryCursorStore,
    ScrapingProsRunCompletedTrigger,
    VariableCursorStore,
    _each_accessor,
    asset_state_key,
    variable_key,
)
from tests.conftest import DEV_TOKEN, connection_json
from tests.triggers.test_run import rebuild, run_debug, slow_callbacks

LIST_RUNS = "GET /v1/async/collections/{cid}/runs"
HEADERS = {"Authorization": f"Bearer {DEV_TOKEN}"}
LATENCY_MS = 40_000
JOB_S = 0.4  # sandbox-clock seconds a job takes (LATENCY_MS x time scale 0.01)
STEP_S = 0.02  # sandbox-clock seconds between two staggered starts
Trigger = ScrapingProsRunCompletedTrigger


# ------------------------------------------------------------------------------------------ helpers
def new_collection(base_url: str, name: str = "watched") -> str:
    answer = requests.post(
        f"{base_url}/v1/async/collections",
        json={"name": name, "requests": [{"url": f"https://example.com/{name}?sp_latency_ms={LATENCY_MS}"}]},
        headers=HEADERS,
        timeout=10,
    )
    return str(answer.json()["id"])


def start(base_url: str, cid: str) -> str:
    answer = requests.post(f"{base_url}/v1/async/collections/{cid}/run", headers=HEADERS, timeout=10)
    return str(answer.json()["run_id"])


STARTED: dict[str, float] = {}  # run id -> sandbox clock at its start


def staggered_runs(conn: SandboxControl, cid: str, n: int) -> list[str]:
    """n runs STEP_S apart on the frozen clock: a run ends JOB_S after its start."""
    rids = []
    for _ in range(n):
        at = float(conn.clock()["epoch"])
        rid = start(conn.base_url, cid)
        STARTED[rid] = at
        rids.append(rid)
        conn.advance(STEP_S)
    return rids


def finish(conn: SandboxControl, rid: str) -> None:
    """Advance the frozen clock until `rid` (and every run started before it) has ended, and
    not the next staggered one."""
    target = STARTED[rid] + JOB_S + STEP_S / 2
    conn.advance(max(0.0, target - float(conn.clock()["epoch"])))


def finish_all(conn: SandboxControl) -> None:
    conn.advance(JOB_S * 2 + 1)


async def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    give_up = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > give_up:
            raise AssertionError("timed out waiting for the trigger")
        await asyncio.sleep(0.02)


class Watching:
    """A trigger's event stream consumed in a task, as the triggerer does; `stop()` is its end."""

    def __init__(self, events: AsyncIterator[Any]) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.task = asyncio.ensure_future(self._consume(events))

    async def _consume(self, events: AsyncIterator[Any]) -> None:
        async for event in events:
            self.payloads.append(event.payload)

    @property
    def run_ids(self) -> list[str]:
        return [p["run_id"] for p in self.payloads]

    async def stop(self) -> None:
        if self.task.done():
            self.task.result()  # a trigger that ended by itself (or crashed) is a failure
            raise AssertionError("an event trigger ended by itself")
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def polled(conn: SandboxControl, times: int = 1) -> None:
    """Wait for `times` more runs-list requests (`conn.count` is a blocking call: off the loop)."""
    before = await asyncio.to_thread(conn.count, LIST_RUNS)
    give_up = time.monotonic() + 15
    while await asyncio.to_thread(conn.count, LIST_RUNS) < before + times:
        assert time.monotonic() < give_up, "the trigger stopped polling"
        await asyncio.sleep(0.02)


class FakeAccessor:
    """An Asset's state as the triggerer's AssetStateStoreAccessor offers it: async get/set."""

    def __init__(self, name: str, data: dict[str, Any] | None = None) -> None:
        self.name = name
        self.data: dict[str, Any] = {} if data is None else data
        self.sets = 0

    async def aget(self, key: str, default: Any = None) -> Any:
        await asyncio.sleep(0)
        return json.loads(json.dumps(self.data[key])) if key in self.data else default

    async def aset(self, key: str, value: Any) -> None:
        await asyncio.sleep(0)
        self.data[key] = json.loads(json.dumps(value))  # only JSON crosses
        self.sets += 1

    def __repr__(self) -> str:
        return f"<FakeAccessor {self.name}>"


class FakeAccessors:
    """What the triggerer injects as `asset_state_store`: the watched Assets' accessors by name."""

    def __init__(self, *accessors: FakeAccessor) -> None:
        self._by_name = {a.name: a for a in accessors}
        self._by_uri: dict[str, Any] = {}


def rebuilt(trigger: Trigger) -> Trigger:
    """What the triggerer does after a restart: classpath + kwargs (plain JSON), nothing else."""
    again = rebuild(trigger)  # type: ignore[arg-type]
    assert isinstance(again, Trigger)
    return again


def inject(trigger: Trigger, accessors: FakeAccessors) -> None:
    """What the 3.3 triggerer does before run() (Airflow 3.1's trigger class has no such attribute)."""
    vars(trigger)["asset_state_store"] = accessors


# --------------------------------------------------------------------------------- input and shape
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "collection_id"),
        ({"collection_id": "c", "collection_name": "n"}, "collection_id"),
        ({"collection_id": ""}, "collection_id"),
        ({"collection_id": "  "}, "collection_id"),
        ({"collection_name": " "}, "collection_name"),
        ({"collection_id": "c", "scrapingpros_conn_id": ""}, "scrapingpros_conn_id"),
        ({"collection_id": "c", "poll_interval": 0}, "poll_interval"),
        ({"collection_id": "c", "poll_interval": True}, "poll_interval"),
        ({"collection_id": "c", "poll_interval": "60"}, "poll_interval"),
        ({"collection_id": "c", "include_existing": "yes"}, "include_existing"),
    ],
)
def test_bad_input_is_refused_before_any_api_call(
    conn: SandboxControl, kwargs: dict[str, Any], field: str
) -> None:
    conn.clear_requests()
    with pytest.raises(ScrapingProsInputError, match=field) as caught:
        Trigger(**kwargs)
    assert caught.value.errors[0][0] == field
    assert conn.count() == 0


def test_serialize_round_trip_is_plain_json() -> None:
    original = Trigger(
        collection_name="shop", scrapingpros_conn_id="sp", poll_interval=7, include_existing=True
    )
    classpath, kwargs = original.serialize()
    assert classpath == "airflow_provider_scrapingpros.triggers.events.ScrapingProsRunCompletedTrigger"
    assert kwargs == {
        "collection_id": None,
        "collection_name": "shop",
        "scrapingpros_conn_id": "sp",
        "poll_interval": 7.0,
        "include_existing": True,
    }
    again = rebuilt(original)
    assert isinstance(again, Trigger) and again.serialize() == (classpath, kwargs)
    assert again.shared_stream_key() == ("scrapingpros", "sp", "shop")


# ----------------------------------------------------------------------------------- event stream
def test_baseline_runs_are_not_announced_and_each_new_end_is_announced_once(
    conn: SandboxControl, caplog: pytest.LogCaptureFixture
) -> None:
    conn.freeze()
    cid = new_collection(conn.base_url)
    old = staggered_runs(conn, cid, 2)
    conn.advance(JOB_S + 5)  # both terminal before the watcher starts: the baseline
    running = start(conn.base_url, cid)  # in progress at the first look: announced when it ends
    trigger = Trigger(collection_id=cid, poll_interval=0.05)
    trigger.cursor_store = store = MemoryCursorStore()

    async def scenario() -> list[dict[str, Any]]:
        watching = Watching(trigger.run())
        await polled(conn, 2)
        assert watching.payloads == []
        later = await asyncio.to_thread(start, conn.base_url, cid)
        await asyncio.to_thread(conn.advance, JOB_S + 1)  # `running` and `later` both end
        await until(lambda: len(watching.payloads) >= 2)
        await polled(conn, 3)  # and nothing more comes
        await watching.stop()
        assert watching.run_ids == [running, later]  # oldest first
        return watching.payloads

    payloads = run_debug(scenario(), caplog)
    assert not set(old) & {p["run_id"] for p in payloads}
    for payload in payloads:
        parsed = RunCompleted.model_validate(payload)
        assert (parsed.source, parsed.collection_id, parsed.status) == ("watcher", cid, "completed")
        assert parsed.run_url == f"{conn.base_url}/v1/async/collections/{cid}/runs/{parsed.run_id}"
        json.dumps(payload)
    assert store.cursor is not None and store.cursor.done == {*old, running, payloads[1]["run_id"]}
    assert slow_callbacks(caplog) == []


def test_include_existing_replays_finished_runs_oldest_first(
    conn: SandboxControl, caplog: pytest.LogCaptureFixture
) -> None:
    conn.freeze()
    cid = new_collection(conn.base_url)
    old = staggered_runs(conn, cid, 3)
    conn.advance(JOB_S + 5)
    trigger = Trigger(collection_id=cid, poll_interval=0.05, include_existing=True)
    trigger.cursor_store = MemoryCursorStore()

    async def scenario() -> list[str]:
        watching = Watching(trigger.run())
        await until(lambda: len(watching.payloads) >= 3)
        await polled(conn, 3)
        await watching.stop()
        return watching.run_ids

    assert run_debug(scenario(), caplog) == old
    assert slow_callbacks(caplog) == []


def test_restart_with_the_stored_cursor_misses_nothing_and_repeats_nothing(
    conn: SandboxControl, caplog: pytest.LogCaptureFixture
) -> None:
    """20 runs end one by one: 8 while the first triggerer runs, 5 while none does, 7 after the
    second starts from the cursor the first stored in two watched Assets."""
    conn.freeze()
    cid = new_collection(conn.base_url)
    baseline = staggered_runs(conn, cid, 2)
    conn.advance(JOB_S + 5)
    rids = staggered_runs(conn, cid, 20)  # run i ends at its start + JOB_S; now = start of run 0 + 20
    assets = FakeAccessors(FakeAccessor("a"), FakeAccessor("b"))
    key = asset_state_key("scrapingpros_default", cid)

    def stored() -> set[str]:
        return {rid for acc in assets._by_name.values() for rid in acc.data.get(key, {}).get("done", [])}

    async def scenario() -> tuple[list[str], list[str]]:
        first = Trigger(collection_id=cid, poll_interval=0.05)
        inject(first, assets)  # what the 3.3 triggerer injects
        watching = Watching(first.run())
        await polled(conn, 2)
        await asyncio.to_thread(finish, conn, rids[7])  # runs 0..7 end
        await until(lambda: len(watching.payloads) >= 8)
        await until(lambda: set(rids[:8]) <= stored())  # quiet point: every event's write is done
        await watching.stop()
        await asyncio.to_thread(finish, conn, rids[12])  # runs 8..12 end while nothing watches
        second = rebuilt(first)
        inject(second, assets)
        resumed = Watching(second.run())
        await until(lambda: len(resumed.payloads) >= 5)
        await asyncio.to_thread(finish_all, conn)  # runs 13..19 end
        await until(lambda: len(resumed.payloads) >= 12)
        await polled(conn, 3)
        await resumed.stop()
        return watching.run_ids, resumed.run_ids

    before, after = run_debug(scenario(), caplog)
    assert before == rids[:8]
    assert after == rids[8:]  # the downtime's 5 first, oldest first; no repeat of the first 8
    assert stored() == {*baseline, *rids}
    assert all(
        acc.data[key] == {"v": 1, "done": sorted({*baseline, *rids})} for acc in assets._by_name.values()
    )
    assert slow_callbacks(caplog) == []


def test_a_crash_between_event_and_cursor_write_repeats_that_one_run(conn: SandboxControl) -> None:
    """At-least-once, as documented: the write comes after the yield."""
    conn.freeze()
    cid = new_collection(conn.base_url)
    rids = staggered_runs(conn, cid, 2)
    store = MemoryCursorStore()

    async def scenario() -> tuple[list[str], list[str]]:
        first = Trigger(collection_id=cid, poll_interval=0.05)
        first.cursor_store = store
        events = first.run()
        pending = asyncio.ensure_future(anext(events))
        await polled(conn, 1)
        await asyncio.to_thread(finish, conn, rids[0])  # run 0 ends, run 1 not yet
        got = await pending  # the triggerer has the event; the generator sits at its yield
        await events.aclose()  # type: ignore[attr-defined]  # ...and dies before asking for more
        second = Trigger(collection_id=cid, poll_interval=0.05)
        second.cursor_store = store
        watching = Watching(second.run())
        await asyncio.to_thread(finish_all, conn)
        await until(lambda: len(watching.payloads) >= 2)
        await polled(conn, 2)
        await watching.stop()
        return [got.payload["run_id"]], watching.run_ids

    before, after = asyncio.run(scenario())
    assert before == rids[:1] and after == rids


def test_a_stop_before_events_can_be_stored_re_announces_the_whole_batch(
    conn: SandboxControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Airflow stores yielded events about a second later; a triggerer stopped sooner drops them.
    The cursor is saved only EVENT_PERSIST_WAIT_S after a batch, so a stop inside the wait repeats
    the batch (a duplicate, never a loss); once the wait is over, nothing repeats."""
    from airflow_provider_scrapingpros.triggers import events as events_module

    monkeypatch.setattr(events_module, "EVENT_PERSIST_WAIT_S", 30.0)  # the stop lands inside it
    conn.freeze()
    cid = new_collection(conn.base_url)
    rids = staggered_runs(conn, cid, 3)
    store = MemoryCursorStore()

    async def scenario() -> tuple[list[str], RunCursor | None, list[str], RunCursor | None]:
        first = Trigger(collection_id=cid, poll_interval=0.05)
        first.cursor_store = store
        watching = Watching(first.run())
        await until(lambda: store.cursor is not None)  # the first look stores its baseline at once
        baseline = await store.load()
        await asyncio.to_thread(finish, conn, rids[1])  # runs 0 and 1 end together
        await until(lambda: len(watching.payloads) >= 2)
        await watching.stop()  # inside the 30 s wait: the batch is not marked announced
        assert await store.load() == baseline
        monkeypatch.setattr(events_module, "EVENT_PERSIST_WAIT_S", 0.05)
        second = Trigger(collection_id=cid, poll_interval=0.05)
        second.cursor_store = store
        resumed = Watching(second.run())
        await until(lambda: len(resumed.payloads) >= 2)
        await until(lambda: store.cursor is not None and set(rids[:2]) <= set(store.cursor.done))
        await polled(conn, 2)
        await resumed.stop()
        return watching.run_ids, baseline, resumed.run_ids, await store.load()

    before, baseline, after, final = asyncio.run(scenario())
    assert before == rids[:2]
    assert baseline is not None and not set(rids) & set(baseline.done)
    assert after == rids[:2]  # repeated, none lost; run 2 is still running
    assert final is not None and set(final.done) & set(rids) == set(rids[:2])


# ------------------------------------------------------------------------------------- fail closed
_RUNS_LIST = re.compile(r"^/v1/async/collections/[^/]+/runs(\?|$)")


class RunsListProxy:
    """A loopback proxy in front of the sandbox; `body(answer_json) -> bytes | None` may replace the
    runs list's 200 answer (None: pass it through). The sandbox itself always answers correctly."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.body: Callable[[dict[str, Any]], bytes | None] = lambda answer: None
        self.rewritten = 0
        self._session = requests.Session()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                answer = proxy._session.get(
                    proxy.upstream + self.path,
                    headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
                    timeout=30,
                )
                data = answer.content
                if _RUNS_LIST.match(self.path) and answer.status_code == 200:
                    replaced = proxy.body(answer.json())
                    if replaced is not None:
                        data = replaced
                        proxy.rewritten += 1
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def proxy(conn: SandboxControl, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunsListProxy]:
    p = RunsListProxy(conn.base_url)
    monkeypatch.setenv("AIRFLOW_CONN_SCRAPINGPROS_DEFAULT", connection_json(p.base_url, max_retries=1))
    try:
        yield p
    finally:
        p.stop()


def _terminal_everything(answer: dict[str, Any]) -> dict[str, Any]:
    return {**answer, "items": [{**run, "status": "completed"} for run in answer["items"]]}


MALFORMED: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "not json": lambda answer: b"<html>gateway</html>",
    "total disagrees": lambda answer: json.dumps({**_terminal_everything(answer), "total": 99}).encode(),
    "run without status": lambda answer: json.dumps(
        {**answer, "items": [{k: v for k, v in r.items() if k != "status"} for r in answer["items"]]}
    ).encode(),
    "duplicate ids": lambda answer: json.dumps(
        {"items": _terminal_everything(answer)["items"] * 2, "total": 2 * len(answer["items"])}
    ).encode(),
}


def test_malformed_runs_lists_give_no_event_and_the_watch_goes_on(
    conn: SandboxControl, proxy: RunsListProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    conn.freeze()
    cid = new_collection(conn.base_url)
    rid = start(conn.base_url, cid)
    trigger = Trigger(collection_id=cid, poll_interval=0.05)
    trigger.cursor_store = store = MemoryCursorStore()

    async def scenario() -> list[str]:
        watching = Watching(trigger.run())
        await polled(conn, 2)  # baseline taken: the run is in progress
        for make in MALFORMED.values():
            proxy.body = make
            seen = proxy.rewritten
            await until(lambda seen=seen: proxy.rewritten >= seen + 3)  # type: ignore[misc]
            assert watching.payloads == []
        proxy.body = lambda answer: None
        await asyncio.to_thread(conn.advance, JOB_S + 1)
        await until(lambda: len(watching.payloads) >= 1)
        await polled(conn, 3)
        await watching.stop()
        return watching.run_ids

    assert asyncio.run(scenario()) == [rid]
    assert store.cursor == RunCursor(done=frozenset({rid}))
    warned = " ".join(line for line in capsys.readouterr().out.splitlines() if "not usable" in line)
    assert "total=99" in warned and "twice" in warned and "ScrapingProsResponseError" in warned


def test_api_errors_give_no_event_and_the_watch_goes_on(
    conn: SandboxControl, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    conn.freeze()
    cid = new_collection(conn.base_url)
    rid = start(conn.base_url, cid)
    trigger = Trigger(collection_id=cid, poll_interval=0.05)
    trigger.cursor_store = MemoryCursorStore()

    async def scenario() -> list[str]:
        watching = Watching(trigger.run())
        await polled(conn, 1)
        await asyncio.to_thread(conn.script_fault, LIST_RUNS, "error_5xx", 6)
        await asyncio.to_thread(conn.advance, JOB_S + 1)
        await until(lambda: len(watching.payloads) >= 1)
        await polled(conn, 2)
        await watching.stop()
        return watching.run_ids

    assert run_debug(scenario(), caplog) == [rid]
    assert "ScrapingProsServerError" in capsys.readouterr().out
    assert slow_callbacks(caplog) == []


# ------------------------------------------------------------------------------------ by name
def test_a_name_is_resolved_to_its_collection(conn: SandboxControl, caplog: pytest.LogCaptureFixture) -> None:
    conn.freeze()
    cid = new_collection(conn.base_url, "by-name")
    new_collection(conn.base_url, "by-name-other")
    rid = start(conn.base_url, cid)
    trigger = Trigger(collection_name="by-name", poll_interval=0.05)
    trigger.cursor_store = MemoryCursorStore()

    async def scenario() -> list[dict[str, Any]]:
        watching = Watching(trigger.run())
        await polled(conn, 1)
        await asyncio.to_thread(conn.advance, JOB_S + 1)
        await until(lambda: len(watching.payloads) >= 1)
        await watching.stop()
        return watching.payloads

    payloads = run_debug(scenario(), caplog)
    assert [(p["collection_id"], p["run_id"]) for p in payloads] == [(cid, rid)]
    assert slow_callbacks(caplog) == []


@pytest.mark.parametrize(
    ("copies", "error", "match"),
    [(0, ScrapingProsNotFoundError, "No collection"), (2, ScrapingProsInputError, "2 collections")],
)
def test_an_unknown_or_ambiguous_name_is_a_clear_error(
    conn: SandboxControl, copies: int, error: type[Exception], match: str
) -> None:
    for _ in range(copies):
        new_collection(conn.base_url, "twice")
    new_collection(conn.base_url, "twice-not")
    trigger = Trigger(collection_name="twice", poll_interval=0.05)

    async def scenario() -> None:
        async for _ in trigger.run():
            raise AssertionError("no event expected")

    with pytest.raises(error, match=match):
        asyncio.run(asyncio.wait_for(scenario(), 15))
    assert conn.count(LIST_RUNS) == 0


# ------------------------------------------------------------------------------- cursor storage
def test_storage_is_chosen_from_what_the_triggerer_offers() -> None:
    plain = Trigger(collection_id="c1", scrapingpros_conn_id="sp")
    chosen = plain._store("c1")
    assert isinstance(chosen, FallbackCursorStore) and isinstance(chosen.primary, VariableCursorStore)
    assert chosen.primary.key == variable_key("sp", "c1")
    assert chosen.primary.key.startswith("scrapingpros_watch__")
    assert variable_key("sp", "c1") != variable_key("sp", "c2") != variable_key("sp2", "c1")

    with_state = Trigger(collection_id="c1", scrapingpros_conn_id="sp")
    inject(with_state, FakeAccessors(FakeAccessor("x"), FakeAccessor("y")))
    chosen = with_state._store("c1")
    assert isinstance(chosen, FallbackCursorStore) and isinstance(chosen.primary, AssetStateCursorStore)
    assert [a.name for a in chosen.primary.accessors] == ["x", "y"]
    assert chosen.primary.key == "scrapingpros.watch:sp:c1"


def test_every_watched_asset_of_a_real_accessor_map_is_found() -> None:
    """`_each_accessor` reads AssetStateStoreAccessors' private map: this breaks if it moves."""
    context = pytest.importorskip("airflow.sdk.execution_time.context")
    if not hasattr(context, "AssetStateStoreAccessors"):
        pytest.skip("Airflow < 3.3 has no asset state store")
    from airflow.sdk import Asset

    real = context.AssetStateStoreAccessors(
        inlets=[Asset(name="a", uri="s3://b/a"), Asset(name="b", uri="s3://b/b")]
    )
    assert len(_each_accessor(real)) == 2


@pytest.fixture
def fake_supervisor(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The triggerer's supervisor as far as Variables go (Get/PutVariable messages, async only, as
    the trigger runner's comms must be used), over a dict."""
    from airflow.sdk.execution_time import comms, task_runner

    variables: dict[str, str] = {}

    class Comms:
        def send(self, msg: Any) -> Any:
            # The real triggerer's sync path (async_to_sync in a thread) crashes its trigger runner.
            raise AssertionError(f"sync comms from a trigger: {msg!r}")

        async def asend(self, msg: Any) -> Any:
            asyncio.get_running_loop()  # on the trigger's own loop, as the triggerer's comms need
            if isinstance(msg, comms.GetVariable):
                if msg.key in variables:
                    return comms.VariableResult(key=msg.key, value=variables[msg.key])
                return comms.ErrorResponse(error="VARIABLE_NOT_FOUND", detail={"key": msg.key})
            if isinstance(msg, comms.PutVariable):
                assert msg.value is not None
                variables[msg.key] = msg.value
                return None
            raise AssertionError(f"unexpected message {msg!r}")

    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", Comms(), raising=False)
    return variables


def test_variable_fallback_survives_a_restart(
    conn: SandboxControl, fake_supervisor: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Airflow 3.1/3.2: no asset_state_store, so the cursor lives in a Variable."""
    conn.freeze()
    cid = new_collection(conn.base_url)
    rids = staggered_runs(conn, cid, 4)
    key = variable_key("scrapingpros_default", cid)

    async def scenario() -> tuple[list[str], list[str]]:
        first = Trigger(collection_id=cid, poll_interval=0.05)
        watching = Watching(first.run())
        await polled(conn, 2)
        await asyncio.to_thread(finish, conn, rids[1])  # runs 0, 1 end
        await until(lambda: len(watching.payloads) >= 2)
        await until(lambda: set(rids[:2]) <= set(json.loads(fake_supervisor.get(key, "{}")).get("done", [])))
        await watching.stop()
        await asyncio.to_thread(finish_all, conn)  # runs 2, 3 end while nothing watches
        resumed = Watching(rebuilt(first).run())
        await until(lambda: len(resumed.payloads) >= 2)
        await polled(conn, 3)
        await resumed.stop()
        return watching.run_ids, resumed.run_ids

    assert asyncio.run(scenario()) == (rids[:2], rids[2:])
    assert json.loads(fake_supervisor[key]) == {"v": 1, "done": sorted(rids)}
    out = capsys.readouterr().out
    assert "memory only" not in out and "Airflow Variable 'scrapingpros_watch__" in out


def test_without_any_storage_it_keeps_watching_in_memory_and_warns_once(
    conn: SandboxControl, capsys: pytest.CaptureFixture[str]
) -> None:
    """No supervisor at all (a unit test, a bare script): Variable.set cannot reach one."""
    conn.freeze()
    cid = new_collection(conn.base_url)
    rids = staggered_runs(conn, cid, 2)
    trigger = Trigger(collection_id=cid, poll_interval=0.05)

    async def scenario() -> list[str]:
        watching = Watching(trigger.run())
        await polled(conn, 1)
        await asyncio.to_thread(conn.advance, JOB_S + 2)
        await until(lambda: len(watching.payloads) >= 2)
        await polled(conn, 2)
        await watching.stop()
        return watching.run_ids

    assert asyncio.run(scenario()) == rids
    warnings = [line for line in capsys.readouterr().out.splitlines() if "memory only" in line]
    assert len(warnings) == 1 and "Variable" in warnings[0]
    assert isinstance(trigger.cursor_store, FallbackCursorStore)
    assert trigger.cursor_store.memory.cursor == RunCursor(done=frozenset(rids))


# ------------------------------------------------------------------------------- shared stream
def test_watchers_sharing_a_stream_poll_once_and_each_get_every_event(
    conn: SandboxControl, caplog: pytest.LogCaptureFixture
) -> None:
    shared_stream = pytest.importorskip("airflow.triggers.shared_stream")
    conn.freeze()
    cid = new_collection(conn.base_url)
    rids = staggered_runs(conn, cid, 3)
    triggers = [Trigger(collection_id=cid, poll_interval=0.1) for _ in range(5)]
    for t in triggers:
        t.cursor_store = MemoryCursorStore()
    keys = {t.shared_stream_key() for t in triggers}
    assert len(keys) == 1

    async def scenario() -> tuple[list[list[str]], float, int]:
        manager = shared_stream.SharedStreamManager()
        (key,) = keys
        watchings = [
            Watching(t.filter_shared_stream(manager.subscribe(trigger_id=i, trigger=t, key=key)))
            for i, t in enumerate(triggers)
        ]
        await polled(conn, 1)
        before, started = await asyncio.to_thread(conn.count, LIST_RUNS), time.monotonic()
        await asyncio.to_thread(conn.advance, JOB_S + 3)
        await until(lambda: all(len(w.payloads) >= 3 for w in watchings))
        await asyncio.sleep(1.0)
        polls, elapsed = await asyncio.to_thread(conn.count, LIST_RUNS) - before, time.monotonic() - started
        for w in watchings:
            await w.stop()
        await manager.stop_all()
        return [w.run_ids for w in watchings], elapsed, polls

    got, elapsed, polls = run_debug(scenario(), caplog)
    assert got == [rids] * 5
    assert 1 <= polls <= elapsed / 0.1 + 2  # one loop, not five
    assert slow_callbacks(caplog) == []


def test_polls_faster_while_a_run_is_in_progress(
    conn: SandboxControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Busy: max(floor, interval / 4) = 0.2 s with the floor lowered from 5 s; idle: the 0.8 s base."""
    from airflow_provider_scrapingpros.runs import cursor

    monkeypatch.setattr(cursor, "FAST_POLL_FLOOR_S", 0.05)
    conn.freeze()
    cid = new_collection(conn.base_url)
    trigger = Trigger(collection_id=cid, poll_interval=0.8)
    trigger.cursor_store = MemoryCursorStore()

    async def polls_during(seconds: float) -> int:
        before = await asyncio.to_thread(conn.count, LIST_RUNS)
        await asyncio.sleep(seconds)
        return await asyncio.to_thread(conn.count, LIST_RUNS) - before

    async def scenario() -> tuple[int, int]:
        watching = Watching(trigger.run())
        await polled(conn, 1)  # idle: no run yet
        await asyncio.to_thread(start, conn.base_url, cid)
        await polled(conn, 1)  # has seen the run in progress
        busy = await polls_during(1.6)
        await asyncio.to_thread(finish_all, conn)
        await until(lambda: len(watching.payloads) == 1)
        idle = await polls_during(1.6)
        await watching.stop()
        return busy, idle

    busy, idle = asyncio.run(scenario())
    assert busy >= 6 and idle <= 3, (busy, idle)
