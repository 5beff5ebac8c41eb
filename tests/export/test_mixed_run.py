"""2,000 jobs with every outcome the issue lists, exported once per layout (`files` on file://,
`jsonl` on S3 via moto): exact bytes, one manifest line per job with its reason, the API request
count, and a rerun that writes nothing. One run serves both layouts (same jobs, same bytes)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_scrapingpros.export.store import ExportStore
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from airflow_provider_scrapingpros.sandbox import Sandbox
from tests.export.conftest import S3_CONN_ID
from tests.export.helpers import (
    JOBS_ROUTE,
    RESULT_ROUTE,
    RUN_ROUTE,
    ground_truth,
    make_run,
    mixed_requests,
    read_manifest,
    runner,
    tree,
)

N = 2000
OVERSIZE = N // 20  # one 300 KB body per block of 20


@pytest.fixture(scope="module")
def mixed(sandbox: Sandbox, api_env: None) -> Iterator[dict[str, Any]]:
    sandbox.control.reset()
    hook = ScrapingProsHook()
    cid, rid, run = make_run(hook, mixed_requests(N))
    assert (run.status, run.success_requests, run.failed_requests, run.timeout_requests) == (
        "completed",
        1600,
        300,
        100,
    )
    yield {"hook": hook, "cid": cid, "rid": rid, "truth": ground_truth(sandbox.base_url, cid, rid)}
    hook.close()


def _export_counted(sandbox: Sandbox, mixed: dict[str, Any], root: ObjectStoragePath, **options: Any) -> Any:
    sandbox.control.clear_requests()
    store = ExportStore(root)
    outcome = runner(mixed["hook"], root, mixed["cid"], mixed["rid"], store=store, **options).run_pass(
        follow=False
    )
    counts = sandbox.control.counts()["by_route"]
    # ⌈N/100⌉ pages + one /result per oversize body + one run poll; nothing per job.
    assert counts == {JOBS_ROUTE: math.ceil(N / 100), RESULT_ROUTE: OVERSIZE, RUN_ROUTE: 1}
    return outcome, store


def _check_manifest(manifest: list[dict[str, Any]], truth: dict[str, dict[str, Any]]) -> None:
    assert [m["job_id"] for m in manifest] != []
    assert sorted(m["job_id"] for m in manifest) == sorted(truth)
    stamps = [m["completed_at"] for m in manifest]
    assert stamps == sorted(stamps) and len(set(stamps)) == N  # completed_at order
    for entry in manifest:
        job = truth[entry["job_id"]]
        for field in ("custom_id", "url", "status", "is_success", "status_code", "block_reason"):
            assert entry[field] == job[field], (field, entry, job)
        if job["status"] in ("failed", "timeout"):
            assert (entry["state"], entry["key"], entry["sha256"]) == ("failed", None, None)
        else:
            assert entry["state"] == "exported"
            assert (entry["sha256"], entry["bytes"]) == (job["body_sha256"], job["body_size"])
        # every non-success carries its reason (the job's message: http_404, blocked: captcha, ...)
        assert entry["reason"] == (None if job["is_success"] else job["message"])
        assert entry["reason"] is None or entry["reason"] != ""


def _check_success_marker(root: ObjectStoragePath, summary: dict[str, Any], rid: str) -> None:
    marker = json.loads((root / "_SUCCESS.json").read_text())
    figures = {k: marker[k] for k in ("jobs", "exported", "failed", "expired", "lost", "successful")}
    assert figures == {
        "jobs": N,
        "exported": 1800,
        "failed": 200,
        "expired": 0,
        "lost": 0,
        "successful": 1600,
    }
    assert (marker["run_id"], marker["success_criterion"], marker["run_status"]) == (
        rid,
        "content_success_v1",
        "completed",
    )
    assert marker["run_started_at"] < marker["run_finished_at"]
    assert {k: summary[k] for k in figures} == figures
    assert summary["bytes"] == marker["bytes"] and summary["objects"] == marker["objects"]


def _rerun_writes_nothing(
    sandbox: Sandbox, mixed: dict[str, Any], root: ObjectStoragePath, **options: Any
) -> Any:
    before = tree(root)
    sandbox.control.clear_requests()
    store = ExportStore(root)
    again = runner(mixed["hook"], root, mixed["cid"], mixed["rid"], store=store, **options).run_pass(
        follow=False
    )
    assert store.writes == 0 and sandbox.control.counts()["total"] == 0
    assert tree(root) == before
    return again.summary


def test_files_layout_on_local_storage(sandbox: Sandbox, mixed: dict[str, Any], tmp_path: Path) -> None:
    root = ObjectStoragePath(f"file://{tmp_path}/export")
    outcome, store = _export_counted(sandbox, mixed, root, layout="files")
    manifest, truth = read_manifest(root), mixed["truth"]
    _check_manifest(manifest, truth)
    objects = tree(root)
    referenced = [key for entry in manifest for key in entry["objects"]]
    # every object belongs to exactly one job, and nothing else lies around (no state left behind)
    assert sorted(referenced) == sorted(set(referenced))
    assert set(objects) == {*referenced, "_manifest.jsonl", "_SUCCESS.json"}
    # each object once, plus manifest + marker, plus state: export.json and one segment per 500 jobs
    assert store.writes == len(referenced) + 2 + 1 + math.ceil(N / 500)
    for entry in manifest:
        job = truth[entry["job_id"]]
        if entry["key"] is not None:
            assert objects[entry["key"]] == job["body_sha256"]  # the sandbox's exact bytes
            assert entry["key"] == f"{job['custom_id']}.{entry['key'].rsplit('.', 1)[1]}"
        if "sp_binary" in job["url"]:
            assert entry["key"].endswith(".pdf") and entry["content_type"] == "application/pdf"
        if job["extracted_data"] is not None:
            side = json.loads((root / f"{job['custom_id']}.extracted.json").read_text())
            assert side == job["extracted_data"]
    assert sum("sp_binary" in truth[m["job_id"]]["url"] for m in manifest if m["key"]) == N // 20
    _check_success_marker(root, outcome.summary, mixed["rid"])
    assert outcome.summary["destination"] == f"file://{tmp_path}/export"
    assert outcome.summary["manifest"] == f"file://{tmp_path}/export/_manifest.jsonl"
    assert _rerun_writes_nothing(sandbox, mixed, root, layout="files") == outcome.summary


def test_jsonl_layout_on_s3(sandbox: Sandbox, mixed: dict[str, Any], make_bucket: Any) -> None:
    bucket = make_bucket()
    root = ObjectStoragePath(f"s3://{bucket}/runs/{mixed['rid']}", conn_id=S3_CONN_ID)
    limits = {"part_max_records": 600, "part_max_bytes": 8 * 1024 * 1024}
    outcome, _ = _export_counted(sandbox, mixed, root, layout="jsonl", **limits)
    manifest, truth = read_manifest(root), mixed["truth"]
    _check_manifest(manifest, truth)
    parts = sorted(k for k in tree(root) if k.startswith("part-"))
    assert len(parts) >= 4 and parts[0] == "part-00000.jsonl.gz"
    records: dict[str, dict[str, Any]] = {}
    for part in parts:
        raw = gzip.decompress((root / part).read_bytes())
        lines = raw.splitlines(keepends=True)
        assert len(lines) <= 600
        assert len(raw) - len(lines[-1]) < 8 * 1024 * 1024  # only the closing record may cross the bound
        for number, line in enumerate(lines):
            record = json.loads(line)
            records[record["job_id"]] = {**record, "_at": (part, number)}
    exported = [m for m in manifest if m["state"] == "exported"]
    assert len(records) == len(exported) == 1800
    for entry in exported:
        record, job = records[entry["job_id"]], truth[entry["job_id"]]
        assert record["_at"] == (entry["key"], entry["line"])
        body = (record["content"] or "").encode() if record["content_base64"] is None else None
        if body is None:
            body = base64.b64decode(record["content_base64"])
        assert hashlib.sha256(body).hexdigest() == job["body_sha256"] == record["sha256"]
        assert record["job"]["job_public_id"] == entry["job_id"]
        assert record["extracted_data"] == job["extracted_data"]
    _check_success_marker(root, outcome.summary, mixed["rid"])
    assert outcome.summary["destination"] == f"s3://{bucket}/runs/{mixed['rid']}"  # no conn id inside
    assert _rerun_writes_nothing(sandbox, mixed, root, layout="jsonl", **limits) == outcome.summary
