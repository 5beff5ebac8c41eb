"""Fixtures for hook tests: the connection comes from `AIRFLOW_CONN_SCRAPINGPROS_DEFAULT` (no DB), the
sandbox from tests/conftest.py. Hooks get small backoffs so fault tests stay fast; production
defaults are untouched."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from airflow_provider_scrapingpros.ratelimit import reset_budgets
from airflow_provider_scrapingpros.sandbox.control import SandboxControl

from .helpers import DEV_TOKEN, FAST

SetConn = Callable[..., None]


@pytest.fixture
def set_conn(monkeypatch: pytest.MonkeyPatch) -> SetConn:
    """Point `scrapingpros_default` at a host (with or without scheme/port) and token."""

    def set_(host: str | None, password: str = DEV_TOKEN, port: int | None = None, **extra: Any) -> None:
        conn: dict[str, Any] = {"conn_type": "scrapingpros", "password": password, "extra": extra}
        if host is not None:
            conn["host"] = host
        if port is not None:
            conn["port"] = port
        monkeypatch.setenv("AIRFLOW_CONN_SCRAPINGPROS_DEFAULT", json.dumps(conn))

    return set_


@pytest.fixture
def hook(sp: Any, set_conn: SetConn) -> Iterator[ScrapingProsHook]:
    set_conn(sp.base_url, **FAST)
    h = ScrapingProsHook()
    yield h
    h.close()


@pytest.fixture(autouse=True)
def fresh_rate_budgets() -> Iterator[None]:
    """`sp` resets the sandbox's rate windows; forget our process-wide view of them too, so one
    test's exhausted budget cannot stall the next."""
    reset_budgets()
    yield
    reset_budgets()


@pytest.fixture(scope="module")
def sandbox_process() -> Iterator[SandboxControl]:
    """A sandbox in its own process, for tests that time the event loop: an in-process sandbox
    shares our GIL, and its `json.dumps` of a multi-megabyte page would stall our loop thread and
    be blamed on the hook."""
    command = [
        sys.executable,
        "-m",
        "airflow_provider_scrapingpros.sandbox",
        "--port",
        "0",
        "--time-scale",
        "0.01",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        found = re.search(r"listening on (http://\S+)", proc.stdout.readline())
        assert found, "the sandbox process did not start"
        yield SandboxControl(found.group(1))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def sp_process(sandbox_process: SandboxControl, sp: SandboxControl) -> SandboxControl:
    """The sandbox process, reset; the in-process one is reset too, so its threads sit idle."""
    sandbox_process.reset()
    return sandbox_process
