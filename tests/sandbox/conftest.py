"""Fixtures of the conformance suite, bound to the session sandbox (reset before each test by `sp`)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from scrapingpros import SyncClient

from airflow_provider_scrapingpros.sandbox.control import SandboxControl

from .helpers import http, sdk_client


@pytest.fixture
def api(sp: SandboxControl) -> Iterator[httpx.Client]:
    """Plain HTTP with the dev token, for what the SDK hides (status codes, headers, raw bodies)."""
    with http(sp.base_url) as client:
        yield client


@pytest.fixture
def client(sp: SandboxControl) -> Iterator[SyncClient]:
    """The official SDK, unmodified, pointed at the session sandbox."""
    with sdk_client(sp.base_url) as sdk:
        yield sdk
