"""`_SUCCESS.json` (export/marker.py) on real files: read, the same-export check, the document, its
bytes, the task summary, and how a finished export and its rerun use them."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_scrapingpros.client.models import Run
from airflow_provider_scrapingpros.export.content import ExportOptions
from airflow_provider_scrapingpros.export.errors import ExportConflictError
from airflow_provider_scrapingpros.export.marker import (
    SUCCESS_KEY,
    build_marker,
    check_same_export,
    marker_summary,
    read_marker,
    write_marker,
)
from airflow_provider_scrapingpros.export.session import ExportPlan
from airflow_provider_scrapingpros.export.state import COUNT_NAMES, MANIFEST_KEY, SPEC_KEY, Totals
from airflow_provider_scrapingpros.export.store import ExportStore
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from tests.export.helpers import export, make_run, mixed_requests

SPEC = ExportPlan("col-1", "run-1", ExportOptions(layout="jsonl")).spec


@pytest.fixture
def store(tmp_path: Path) -> ExportStore:
    return ExportStore(ObjectStoragePath(f"file://{tmp_path}"))


def _totals(**counts: int) -> Totals:
    totals = Totals()
    for name, value in counts.items():
        setattr(totals, name, value)
    return totals


def test_read_marker_is_none_until_written_and_the_bytes_are_fixed(
    store: ExportStore, tmp_path: Path
) -> None:
    assert read_marker(store) is None
    doc = {**SPEC, "run_status": "completed", "note": "größe ✓"}
    write_marker(store, doc)
    raw = (tmp_path / SUCCESS_KEY).read_bytes()
    # indented, UTF-8 as is (no \u escapes), keys in insertion order, newline at the end
    assert raw == (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    assert "größe ✓".encode() in raw and raw.endswith(b"}\n")
    assert read_marker(store) == doc


def test_same_export_passes_and_ignores_the_other_fields(store: ExportStore) -> None:
    check_same_export(store, SUCCESS_KEY, {**SPEC, "run_status": "failed", "jobs": 3}, SPEC)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"run_id": "run-2"}, "run run-2"),
        ({"collection_id": "col-2"}, "belongs to another export"),
        ({"options": ExportOptions(layout="files").fingerprint()}, "'layout': 'files'"),
        (
            {"options": ExportOptions(layout="jsonl", part_max_records=7).fingerprint()},
            "'part_max_records': 7",
        ),
    ],
)
def test_another_run_or_other_options_is_a_conflict(
    store: ExportStore, change: dict[str, Any], named: str
) -> None:
    with pytest.raises(ExportConflictError, match=named) as caught:
        check_same_export(store, SPEC_KEY, {**SPEC, **change}, SPEC)
    message = str(caught.value)
    assert store.uri(SPEC_KEY) in message and "this task exports run run-1" in message
    assert "one destination per run" in message


def test_a_document_missing_the_spec_is_a_conflict(store: ExportStore) -> None:
    with pytest.raises(ExportConflictError, match="run None"):
        check_same_export(store, SUCCESS_KEY, {"run_status": "completed"}, SPEC)


def test_build_marker_fields_in_order(hook: ScrapingProsHook) -> None:
    _, _, run = make_run(hook, mixed_requests(3, "mk"))
    spec = ExportPlan(run.collection_id, run.run_id, ExportOptions()).spec
    finished = datetime(2026, 5, 1, 10, 0, 0, 123456, tzinfo=timezone.utc)
    totals = _totals(jobs=3, exported=2, failed=1, successful=2, objects=2, bytes=10)
    doc = build_marker(spec, run, totals, finished_at=finished, manifest_bytes=99, manifest_sha256="ab" * 32)
    assert list(doc) == [
        "collection_id",
        "run_id",
        "options",
        "run_status",
        "success_criterion",
        "run_started_at",
        "run_finished_at",
        *COUNT_NAMES,
        "credits",
        "manifest",
        "manifest_bytes",
        "manifest_sha256",
    ]
    # no estimate from upstream: the run's size bounds it, 1 to 5 credits a success (docs/cost.md)
    successes = run.success_requests
    assert doc["credits"] == {
        "estimated_credits": 15,
        "estimate_source": "run_size",
        "credits_used": None if successes else 0,
        "credits_used_range": [successes, 5 * successes],
    }
    assert {k: doc[k] for k in spec} == spec and doc["run_status"] == run.status == "completed"
    assert run.success_criterion is not None and doc["success_criterion"] == run.success_criterion.version
    assert run.created_at is not None
    started = datetime.fromtimestamp(run.created_at, timezone.utc)
    assert doc["run_started_at"].endswith("Z") and doc["run_started_at"][:19] == started.isoformat()[:19]
    # microseconds kept when the stamp has them (the high-water mark read back must be exact)
    assert doc["run_finished_at"] == "2026-05-01T10:00:00.123456Z"
    assert {k: doc[k] for k in COUNT_NAMES} == totals.counts()
    assert (doc["manifest"], doc["manifest_bytes"], doc["manifest_sha256"]) == (MANIFEST_KEY, 99, "ab" * 32)


def test_build_marker_without_timestamps() -> None:
    run = Run(run_id="r", collection_id="c", status="failed", total_requests=0)
    doc = build_marker(SPEC, run, _totals(), finished_at=None, manifest_bytes=0, manifest_sha256="")
    assert (doc["success_criterion"], doc["run_started_at"], doc["run_finished_at"]) == (None, None, None)
    assert doc["run_status"] == "failed" and doc["jobs"] == 0


def test_summary_names_the_uris_and_counts(store: ExportStore) -> None:
    doc = {**SPEC, "run_status": "completed", **_totals(jobs=4, exported=4, objects=1, bytes=8).counts()}
    summary = marker_summary(store, doc)
    assert summary == {
        "destination": store.uri(),
        "manifest": store.uri(MANIFEST_KEY),
        "success_marker": store.uri(SUCCESS_KEY),
        "collection_id": "col-1",
        "run_id": "run-1",
        "run_status": "completed",
        "success_criterion": None,
        "layout": "jsonl",
        "jobs": 4,
        "exported": 4,
        "failed": 0,
        "expired": 0,
        "lost": 0,
        "successful": 0,
        "objects": 1,
        "bytes": 8,
        "credits": None,  # a marker written before credits were recorded
    }
    assert summary["success_marker"].startswith("file://") and summary["success_marker"].endswith(
        "/_SUCCESS.json"
    )


def test_an_export_ends_with_the_marker_and_a_rerun_reads_it(hook: ScrapingProsHook, tmp_path: Path) -> None:
    cid, rid, run = make_run(hook, mixed_requests(12, "mr"))
    root = ObjectStoragePath(f"file://{tmp_path}/out")
    store = ExportStore(root)
    outcome = export(hook, root, cid, rid, store=store, layout="jsonl")
    doc = read_marker(store)
    assert doc is not None and outcome.summary == marker_summary(store, doc)
    assert doc["jobs"] == run.total_requests == 12 and doc["run_id"] == rid
    manifest = (tmp_path / "out" / MANIFEST_KEY).read_bytes()
    assert doc["manifest_bytes"] == len(manifest)
    assert not (tmp_path / "out" / "_export").exists()  # state goes once the marker is there
    # A rerun writes nothing and returns the same summary, rebuilt from the marker.
    again = ExportStore(root)
    assert export(hook, root, cid, rid, store=again, layout="jsonl").summary == outcome.summary
    assert again.writes == 0
    # The same destination with other options is refused by the marker's check.
    with pytest.raises(ExportConflictError, match=r"_SUCCESS\.json belongs to another export") as err:
        export(hook, root, cid, rid, layout="files")
    # Only what differs, once: the layout, not the whole options dict twice.
    assert str(err.value).count("'layout'") == 2 and str(err.value).count(rid) == 1
