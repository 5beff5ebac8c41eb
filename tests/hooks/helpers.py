"""Helpers shared by the hook tests."""

from __future__ import annotations

import time
from typing import Any

from airflow_provider_scrapingpros.client.models import Run
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook

DEV_TOKEN = "sp_sandbox_dev"
FAST = {"backoff_base": 0.01, "backoff_cap": 0.05}


def wait_terminal(hook: ScrapingProsHook, collection_id: str, run_id: str, timeout: float = 20) -> Run:
    deadline = time.monotonic() + timeout
    while True:
        run = hook.get_run(collection_id, run_id)
        if run.is_terminal or time.monotonic() > deadline:
            return run
        time.sleep(0.02)


def urls(n: int, prefix: str = "p", hint: str = "") -> list[dict[str, str]]:
    return [{"url": f"https://example.com/{prefix}{i}{hint}", "custom_id": f"{prefix}{i}"} for i in range(n)]


def settled(sp: Any) -> dict[str, Any]:
    """The sandbox's request counts once in-flight log writes have landed (it records each request
    just after answering it, so a read right after our call can miss the last one)."""
    previous = sp.counts()
    while True:
        time.sleep(0.03)
        current = sp.counts()
        if current == previous:
            return dict(current)
        previous = current


def logged(sp: Any, route: str) -> int:
    return int(settled(sp)["by_route"].get(route, 0))
