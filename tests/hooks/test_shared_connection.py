"""The hooks that ask for one connection together on an event loop share one lookup
(hooks/connections.py): a triggerer's restart starts all its triggers at once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from airflow.sdk import BaseHook

from airflow_provider_scrapingpros.exceptions import ScrapingProsAuthError
from airflow_provider_scrapingpros.hooks import connections
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook

ANNOUNCED = "Using the ScrapingPros API at"


def _conn(host: str, conn_type: str = "scrapingpros") -> str:
    return json.dumps({"conn_type": conn_type, "host": host, "password": "sp_lookup_token"})


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Airflow's own async lookups, counted (what each one costs a triggerer is the point)."""
    calls: list[str] = []
    original = BaseHook.aget_connection.__func__  # type: ignore[attr-defined]

    async def counted(cls: type[BaseHook], conn_id: str) -> Any:
        calls.append(conn_id)
        return await original(cls, conn_id)

    monkeypatch.setattr(BaseHook, "aget_connection", classmethod(counted))
    return calls


def test_hooks_starting_together_make_one_lookup_and_log_the_api_once(
    lookups: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SP_TOGETHER", _conn("http://127.0.0.1:7001"))

    async def scenario() -> list[str]:
        tasks = []
        for _ in range(200):  # as the triggerer creates them: one at a time, yielding around each
            await asyncio.sleep(0)
            tasks.append(asyncio.create_task(ScrapingProsHook("sp_together").acore()))
        cores = await asyncio.gather(*tasks)
        return [core.settings.base_url for core in cores]

    assert asyncio.run(scenario()) == ["http://127.0.0.1:7001"] * 200
    assert lookups == ["sp_together"]
    assert capsys.readouterr().out.count(ANNOUNCED) == 1


def test_an_edited_connection_is_read_again_after_the_fresh_window(
    lookups: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SP_EDITED", _conn("http://127.0.0.1:7001"))

    async def scenario() -> list[str]:
        first = await ScrapingProsHook("sp_edited").acore()
        monkeypatch.setenv("AIRFLOW_CONN_SP_EDITED", _conn("http://127.0.0.1:7002"))
        within = await ScrapingProsHook("sp_edited").acore()
        monkeypatch.setattr(connections, "FRESH_S", -1.0)  # the window has passed
        after = await ScrapingProsHook("sp_edited").acore()
        return [core.settings.base_url for core in (first, within, after)]

    assert asyncio.run(scenario()) == [
        "http://127.0.0.1:7001",
        "http://127.0.0.1:7001",
        "http://127.0.0.1:7002",
    ]
    assert lookups == ["sp_edited", "sp_edited"]


def test_a_failed_lookup_fails_its_waiters_and_is_not_kept(
    lookups: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> tuple[list[str], str]:
        tasks = [asyncio.create_task(ScrapingProsHook("sp_missing").acore()) for _ in range(5)]
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        monkeypatch.setenv("AIRFLOW_CONN_SP_MISSING", _conn("http://127.0.0.1:7003"))
        core = await ScrapingProsHook("sp_missing").acore()
        return [type(o).__name__ for o in outcomes], core.settings.base_url

    names, base_url = asyncio.run(scenario())
    assert names == ["AirflowNotFoundException"] * 5  # its module differs between Airflow 3.1 and 3.3
    assert base_url == "http://127.0.0.1:7003"
    assert lookups == ["sp_missing", "sp_missing"]


def test_a_cancelled_waiter_does_not_cancel_the_lookup_the_others_wait_for(
    lookups: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SP_CANCEL", _conn("http://127.0.0.1:7004"))

    async def scenario() -> tuple[bool, str]:
        first = asyncio.create_task(ScrapingProsHook("sp_cancel").acore())
        second = asyncio.create_task(ScrapingProsHook("sp_cancel").acore())
        await asyncio.sleep(0)  # both are waiting for the one lookup now
        first.cancel()
        core = await second
        return first.cancelled(), core.settings.base_url

    assert asyncio.run(scenario()) == (True, "http://127.0.0.1:7004")
    assert lookups == ["sp_cancel"]


def test_each_hook_still_refuses_a_connection_of_another_type(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SP_AWS", _conn("http://127.0.0.1:7005", conn_type="aws"))

    async def scenario() -> list[str]:
        tasks = [asyncio.create_task(ScrapingProsHook("sp_aws").acore()) for _ in range(3)]
        return [type(o).__name__ for o in await asyncio.gather(*tasks, return_exceptions=True)]

    assert asyncio.run(scenario()) == [ScrapingProsAuthError.__name__] * 3
