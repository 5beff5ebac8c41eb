"""Fixtures for hook tests: the connection comes from `AIRFLOW_CONN_SCRAPINGPROS_DEFAULT` (no DB), the
sandbox from tests/conftest.py. Hooks get small backoffs so fault tests stay fast; production
defaults are untouched."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_scrapingpros.client.ratelimit import reset_budgets
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook

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
