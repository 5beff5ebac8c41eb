"""A jobs listing that repeats, skips, reorders, strays into another run or never ends fails the pass
closed. The sandbox lists correctly, so the bad listings come from a loopback
proxy that rewrites chosen pages of the sandbox's real answers (tests/export/listing_proxy.py)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_scrapingpros.exceptions import ScrapingProsError
from airflow_provider_scrapingpros.export.content import ExportOptions
from airflow_provider_scrapingpros.export.source import ResultSource
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from airflow_provider_scrapingpros.sandbox import Sandbox
from tests.export.helpers import RUN_ROUTE, make_run, mixed_requests, runner
from tests.export.listing_proxy import Rewrite

N = 250  # pages of 100, 100 and 50


@pytest.fixture(scope="module")
def run_250(sandbox: Sandbox, api_env: None) -> Iterator[tuple[str, str]]:
    sandbox.control.reset()
    hook = ScrapingProsHook()
    cid, rid, run = make_run(hook, [{**r, "url": r["url"].split("?")[0]} for r in mixed_requests(N, "g")])
    assert (run.status, run.total_requests) == ("completed", N)
    yield cid, rid
    hook.close()


def _stamp(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["completed_at"].replace("Z", "+00:00"))


def _export_error(hook: ScrapingProsHook, run: tuple[str, str], tmp_path: Path, **kw: Any) -> str:
    r = runner(hook, ObjectStoragePath(f"file://{tmp_path}/out"), *run)
    for name, value in kw.items():
        setattr(r.source, name, value)
    with pytest.raises(ScrapingProsError) as caught:
        r.run_pass(follow=False)
    assert type(caught.value).__name__ == "ExportListingError", caught.value
    assert not (tmp_path / "out" / "_SUCCESS.json").exists()
    return str(caught.value)


def test_a_page_repeating_the_previous_pages_tail_fails(run_250: Any, through: Any, tmp_path: Path) -> None:
    tail: list[dict[str, Any]] = []

    def repeat_skip(n: int, page: dict[str, Any]) -> dict[str, Any]:
        if n == 1:
            tail[:] = page["items"][-25:]
        if n == 2:  # starts with page 1's last 25 items and drops its own last 25
            page["items"] = tail + page["items"][:-25]
        return page

    _, hook = through(repeat_skip)
    message = _export_error(hook, run_250, tmp_path)
    assert f"gave job {tail[0]['job_public_id']} twice" in message
    assert f"run {run_250[1]}" in message and "Retry the task" in message


def test_a_job_of_another_run_fails(run_250: Any, through: Any, tmp_path: Path) -> None:
    stray: list[str] = []

    def other_run(n: int, page: dict[str, Any]) -> dict[str, Any]:
        if n == 2:
            page["items"][10]["run_public_id"] = "run-of-someone-else"
            stray.append(page["items"][10]["job_public_id"])
        return page

    _, hook = through(other_run)
    message = _export_error(hook, run_250, tmp_path)
    assert f"job {stray[0]} of run run-of-someone-else" in message


def test_items_out_of_completion_order_fail(run_250: Any, through: Any, tmp_path: Path) -> None:
    swapped: list[str] = []

    def reorder(n: int, page: dict[str, Any]) -> dict[str, Any]:
        items = page["items"]
        if n == 1:
            i = next(i for i in range(len(items) - 1) if _stamp(items[i]) < _stamp(items[i + 1]))
            items[i], items[i + 1] = items[i + 1], items[i]
            swapped.append(items[i + 1]["job_public_id"])
        return page

    _, hook = through(reorder)
    message = _export_error(hook, run_250, tmp_path)
    assert f"job {swapped[0]}" in message and "not in completed_at order" in message


def test_a_cursor_that_never_advances_fails_at_once(run_250: Any, through: Any, tmp_path: Path) -> None:
    first_cursor: list[str] = []

    def stuck(n: int, page: dict[str, Any]) -> dict[str, Any]:
        if n == 1:
            first_cursor.append(page["cursor_next"])
        elif n < 40:  # the same page again and again (the old code stopped only here)
            page.update(cursor_next=first_cursor[0], has_more=True)
        return page

    proxy, hook = through(stuck)
    message = _export_error(hook, run_250, tmp_path)
    assert f"cursor {first_cursor[0]!r} a second time" in message
    assert proxy.pages == 2


def _endless(real_pages: int) -> Rewrite:
    """After the real pages, pages of made-up jobs in completion order with fresh cursors, forever
    (until page 60, where the old code stopped). The cursors are valid sandbox cursors past the end."""
    last: list[dict[str, Any]] = []

    def rewrite(n: int, page: dict[str, Any]) -> dict[str, Any]:
        if n <= real_pages:
            last[:] = page["items"][-1:] or last
            if n < real_pages:
                return page
        if n >= 60:
            return {"items": [], "cursor_next": None, "has_more": False}
        start = _stamp(last[0]) + timedelta(seconds=n)
        fake = [
            {
                **last[0],
                "job_public_id": f"fake-{n}-{i}",
                "completed_at": (start + timedelta(milliseconds=i)).isoformat(),
            }
            for i in range(100)
        ]
        cursor = base64.urlsafe_b64encode(json.dumps(["c", 10**15, n]).encode()).decode().rstrip("=")
        return {
            "items": (page["items"] if n == real_pages else []) + fake,
            "cursor_next": cursor,
            "has_more": True,
        }

    return rewrite


def test_more_jobs_than_the_run_has_fail_the_walk(
    run_250: Any, through: Any, tmp_path: Path, sandbox: Sandbox
) -> None:
    proxy, hook = through(_endless(3))
    source = ResultSource(hook, run_250[0], run_250[1], ExportOptions())
    source.expected_total = N
    sandbox.control.clear_requests()
    with pytest.raises(ScrapingProsError) as caught:
        for _ in source.iter_fetched(None, set()):
            pass
    assert type(caught.value).__name__ == "ExportListingError"
    assert f"more than the run's {N} jobs" in str(caught.value)
    assert proxy.pages <= 4 and sandbox.control.count(RUN_ROUTE) == 0


def test_the_runs_own_total_bounds_the_walk_without_another_call(
    run_250: Any, through: Any, tmp_path: Path, sandbox: Sandbox
) -> None:
    proxy, hook = through(_endless(3))
    sandbox.control.clear_requests()
    message = _export_error(hook, run_250, tmp_path)
    assert f"more than the run's {N} jobs" in message
    # the total comes from the poll every pass makes: no extra run call for the bound
    assert proxy.pages <= 4 and sandbox.control.count(RUN_ROUTE) == 1
