"""The `conn` fixture of the trigger tests: a sandbox in its own process as `scrapingpros_default`."""

from __future__ import annotations

import pytest

from airflow_provider_scrapingpros.client.ratelimit import reset_budgets
from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from tests.conftest import DEV_TOKEN, connection_json


@pytest.fixture(autouse=True)
def short_persist_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """The watcher's wait before it saves its cursor after events, shortened from its 3 s."""
    from airflow_provider_scrapingpros.triggers import events

    monkeypatch.setattr(events, "EVENT_PERSIST_WAIT_S", 0.05)


@pytest.fixture
def conn(sp_process: SandboxControl, monkeypatch: pytest.MonkeyPatch) -> SandboxControl:
    """A sandbox in its own process: these tests time the event loop, and an in-process sandbox
    would share our GIL."""
    # No rate limiting here: earlier suites may have spent this window's budget, and a test that
    # freezes the sandbox clock would then wait for a window that never rolls over.
    sp_process.set_token(DEV_TOKEN, rate_limit_enabled=False)
    reset_budgets()
    # max_retries=1: the hook gives up quickly, so the trigger's own next-tick retry is what's tested
    monkeypatch.setenv(
        "AIRFLOW_CONN_SCRAPINGPROS_DEFAULT", connection_json(sp_process.base_url, max_retries=1)
    )
    return sp_process
