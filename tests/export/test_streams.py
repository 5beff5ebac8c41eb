"""Parallel page streams (export/streams.py): a finished run's listing read over K streams writes
the same bytes as one stream, costs at most K - 1 extra pages and two probes, resumes
byte-identically after a crash, and fails closed when a stream fails."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_scrapingpros.exceptions import ScrapingProsError
from airflow_provider_scrapingpros.export import source
from airflow_provider_scrapingpros.export.streams import (
    CHUNKS_PER_STREAM,
    bounds_from_stamps,
    split_bounds,
    streams_for,
)
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from tests.export.helpers import JOBS_ROUTE, make_run, mixed_requests, runner, tree
from tests.export.test_resume import Crash, RecordingStore, _outputs

N = 1_050  # 11 pages of 100 inline results
OPTIONS: dict[str, dict[str, Any]] = {
    "files": {"layout": "files", "segment_size": 100},
    "jsonl": {"layout": "jsonl", "part_max_records": 300},
}


@pytest.fixture(scope="module")
def big_run(sandbox: Any, api_env: None) -> Any:
    sandbox.control.reset()
    hook = ScrapingProsHook()
    cid, rid, _ = make_run(hook, mixed_requests(N, "s"))
    yield hook, cid, rid
    hook.close()


@pytest.fixture(scope="module")
def one_stream(big_run: Any, sandbox: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    hook, cid, rid = big_run
    out = {}
    for layout, opts in OPTIONS.items():
        root = ObjectStoragePath(f"file://{tmp_path_factory.mktemp('one')}/{layout}")
        sandbox.control.clear_requests()
        store = RecordingStore(root)
        runner(hook, root, cid, rid, store=store, **opts).run_pass(follow=False)
        out[layout] = {"tree": tree(root), "pages": sandbox.control.count(JOBS_ROUTE), "writes": store.keys}
    return out


@pytest.mark.parametrize("split", ["exact", "by_time"])
@pytest.mark.parametrize("streams", [2, 4, 8])
@pytest.mark.parametrize("layout", ["files", "jsonl"])
def test_k_streams_write_the_bytes_of_one(
    layout: str,
    streams: int,
    split: str,
    big_run: Any,
    one_stream: dict[str, Any],
    sandbox: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hook, cid, rid = big_run
    if split == "by_time":  # what a run larger than EXACT_SPLIT_MAX_JOBS gets
        monkeypatch.setattr(source, "EXACT_SPLIT_MAX_JOBS", 0)
    root = ObjectStoragePath(f"file://{tmp_path}/out")
    sandbox.control.clear_requests()
    run = runner(hook, root, cid, rid, max_streams=streams, **OPTIONS[layout])
    outcome = run.run_pass(follow=False)
    assert outcome.finished and 2 <= run.source.streams_used <= streams_for(streams, N)
    assert tree(root) == one_stream[layout]["tree"]  # keys, manifest, parts, _SUCCESS.json: every byte
    pages = sandbox.control.count(JOBS_ROUTE)
    assert one_stream[layout]["pages"] == 11
    if split == "exact":
        # the single walk's 11 pages (the streams end on page boundaries) + 2 metadata pages of 1,000
        assert pages == 11 + 2
    else:  # + one partly used page per inner bound (4 chunks a connection) + the two probes
        assert pages <= 11 + (CHUNKS_PER_STREAM * run.source.streams_used - 1) + 2, pages


@pytest.mark.parametrize("layout", ["files", "jsonl"])
def test_crash_then_resume_over_streams_is_byte_identical(
    layout: str, big_run: Any, one_stream: dict[str, Any], tmp_path: Path
) -> None:
    hook, cid, rid = big_run
    sequence = one_stream[layout]["writes"]
    for n, crash_at in enumerate((3, len(sequence) // 3, len(sequence) // 2, len(sequence) - 1)):
        root = ObjectStoragePath(f"file://{tmp_path}/{n}")
        first = RecordingStore(root, crash_at=crash_at)
        with pytest.raises(Crash):
            runner(hook, root, cid, rid, store=first, max_streams=4, **OPTIONS[layout]).run_pass(follow=False)
        second = RecordingStore(root)
        resumed = runner(hook, root, cid, rid, store=second, max_streams=4, **OPTIONS[layout])
        assert resumed.run_pass(follow=False).finished
        assert tree(root) == one_stream[layout]["tree"], f"crash after write {crash_at}"
        assert _outputs(first.keys) + _outputs(second.keys) == _outputs(sequence), crash_at


def test_a_broken_stream_page_fails_the_pass_closed_and_a_retry_finishes(
    big_run: Any, one_stream: dict[str, Any], through: Any, tmp_path: Path
) -> None:
    hook, cid, rid = big_run
    root = ObjectStoragePath(f"file://{tmp_path}/out")

    def broken(n: int, page: dict[str, Any]) -> dict[str, Any]:
        if n == 6:  # after the two probes: a page some stream fetched in its own thread
            page["items"] = "not a list"
        return page

    _, proxied = through(broken)
    with pytest.raises(ScrapingProsError, match="does not match the ScrapingPros API"):
        runner(proxied, root, cid, rid, max_streams=4, **OPTIONS["files"]).run_pass(follow=False)
    assert "_SUCCESS.json" not in tree(root)
    assert runner(hook, root, cid, rid, max_streams=4, **OPTIONS["files"]).run_pass(follow=False).finished
    assert tree(root) == one_stream["files"]["tree"]


def test_the_walk_guard_holds_over_streams(big_run: Any, through: Any, tmp_path: Path) -> None:
    _, cid, rid = big_run
    stray: list[str] = []

    def other_run(n: int, page: dict[str, Any]) -> dict[str, Any]:
        if n == 7 and page["items"]:
            page["items"][0]["run_public_id"] = "run-of-someone-else"
            stray.append(page["items"][0]["job_public_id"])
        return page

    _, proxied = through(other_run)
    with pytest.raises(ScrapingProsError) as caught:
        runner(proxied, ObjectStoragePath(f"file://{tmp_path}/out"), cid, rid, max_streams=4).run_pass(
            follow=False
        )
    assert type(caught.value).__name__ == "ExportListingError"
    assert f"job {stray[0]} of run run-of-someone-else" in str(caught.value)


def test_stream_count_and_bounds() -> None:
    assert [streams_for(8, n) for n in (None, 0, 150, 400, 1_050, 100_000)] == [1, 1, 1, 2, 5, 8]
    assert streams_for(1, 100_000) == 1
    t0 = datetime(2026, 12, 1, tzinfo=timezone.utc)
    bounds = split_bounds(None, t0, t0 + timedelta(seconds=4), 4)
    assert bounds == [None, *(t0 + timedelta(seconds=s) for s in (1, 2, 3)), None]
    # a span of 2 µs has room for two distinct bounds; a resume's `after` drops the bounds before it
    tiny = split_bounds(None, t0, t0 + timedelta(microseconds=2), 4)
    assert tiny == [None, t0, t0 + timedelta(microseconds=1), None]
    after = t0 + timedelta(seconds=2, microseconds=500)
    assert split_bounds(after, t0, t0 + timedelta(seconds=4), 4) == [after, t0 + timedelta(seconds=3), None]
    stamps = [t0 + timedelta(milliseconds=i) for i in range(1_050)]
    # 11 pages over 4 streams: 3 pages each, the last stream the remaining 2
    assert bounds_from_stamps(None, stamps, 4) == [None, stamps[299], stamps[599], stamps[899], None]
    # a cut inside a run of equal stamps keeps them together: stream 0 takes all 500 of them
    tied = [t0] * 500 + stamps[500:]
    assert bounds_from_stamps(None, tied, 4)[1:-1] == [t0, stamps[599], stamps[899]]
    assert bounds_from_stamps(None, [t0] * 1_050, 4) == [None, None]  # one stamp: nothing to cut
