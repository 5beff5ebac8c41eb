"""`ExportPlan` and `ExportSession` driven directly, without a runner: the session needs only the
plan and the collaborators it is handed (sandbox over HTTP, real files)."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_scrapingpros.export.content import ExportOptions
from airflow_provider_scrapingpros.export.errors import ExportIncompleteError
from airflow_provider_scrapingpros.export.keys import KeyAllocator
from airflow_provider_scrapingpros.export.marker import read_marker
from airflow_provider_scrapingpros.export.session import SEGMENT_SIZE, ExportPlan, ExportSession
from airflow_provider_scrapingpros.export.source import ResultSource
from airflow_provider_scrapingpros.export.state import SEGMENTS, load
from airflow_provider_scrapingpros.export.store import ExportStore
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from tests.export.helpers import make_run, mixed_requests

LOG = logging.getLogger("tests.export.session")


def test_plan_is_a_frozen_value_with_the_export_identity() -> None:
    plan = ExportPlan("c", "r", ExportOptions(layout="jsonl"))
    assert (plan.on_expired, plan.segment_size, plan.progress_interval) == ("fail", SEGMENT_SIZE, 5.0)
    assert plan.spec == {
        "collection_id": "c",
        "run_id": "r",
        "options": ExportOptions(layout="jsonl").fingerprint(),
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.run_id = "other"  # type: ignore[misc]


def _session(plan: ExportPlan, hook: ScrapingProsHook, store: ExportStore, workdir: Path) -> ExportSession:
    allocator = KeyAllocator() if plan.options.layout == "files" else None
    state = load(store, plan.options.layout, allocator, LOG)
    source = ResultSource(hook, plan.collection_id, plan.run_id, plan.options)
    return ExportSession(
        plan,
        source=source,
        store=store,
        log=LOG,
        state=state,
        allocator=allocator,
        workdir=workdir,
        resumed=False,
        total=state.next_ordinal,
    )


@pytest.mark.parametrize("layout", ["files", "jsonl"])
def test_session_drains_commits_and_finishes(hook: ScrapingProsHook, tmp_path: Path, layout: str) -> None:
    cid, rid, run = make_run(hook, mixed_requests(25, f"s{layout}"))
    store = ExportStore(ObjectStoragePath(f"file://{tmp_path}/out"))
    options = (
        ExportOptions(layout="files")
        if layout == "files"
        else ExportOptions(layout="jsonl", part_max_records=10)
    )
    plan = ExportPlan(cid, rid, options, on_expired="record", segment_size=10)
    session = _session(plan, hook, store, tmp_path)
    try:
        session.drain()
        # files: a segment every 10 jobs; jsonl: one whenever a 10-record part closes
        assert len(store.list(SEGMENTS)) == 2
        summary = session.finish(run)
    finally:
        session.close()
    doc = read_marker(store)
    assert doc is not None and doc["jobs"] == summary["jobs"] == 25 and summary["layout"] == layout
    assert {k: doc[k] for k in plan.spec} == json.loads(json.dumps(plan.spec))
    assert store.list(SEGMENTS) == []  # state removed after the marker


def test_finish_refuses_a_listing_shorter_than_the_run(hook: ScrapingProsHook, tmp_path: Path) -> None:
    cid, rid, run = make_run(hook, mixed_requests(5, "short"))
    store = ExportStore(ObjectStoragePath(f"file://{tmp_path}/out"))
    session = _session(ExportPlan(cid, rid, ExportOptions()), hook, store, tmp_path)
    try:
        session.drain()
        bigger = run.model_copy(update={"total_requests": 6})
        with pytest.raises(ExportIncompleteError, match="with 6 jobs, but the jobs listing gave 5"):
            session.finish(bigger)
    finally:
        session.close()
    assert read_marker(store) is None
