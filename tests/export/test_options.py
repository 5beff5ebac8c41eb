"""What to include (screenshots, network captures, extracted data, metadata), `only_success`, and
a run that the API ended `failed` part-way."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_scrapingpros.export.content import json_line, metadata, metadata_json
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from tests.export.helpers import RESULT_ROUTE, export, make_run, mixed_requests, read_manifest, tree

BROWSER = {"browser": True, "screenshot": True, "network_capture": {"resource_types": ["xhr"]}}


def _browser_run(hook: ScrapingProsHook) -> tuple[str, str]:
    items: list[dict[str, Any]] = [
        {
            "url": "https://example.com/b/0?sp_extractable=1",
            "custom_id": "b0",
            "extract": {"h": "css:h1"},
            **BROWSER,
        },
        {"url": "https://example.com/b/1", "custom_id": "b1", **BROWSER},
        {"url": "https://example.com/b/2?sp_status=404", "custom_id": "b2"},
    ]
    cid, rid, _ = make_run(hook, items)
    return cid, rid


def test_side_objects_beside_each_page(sp: SandboxControl, hook: ScrapingProsHook, tmp_path: Path) -> None:
    cid, rid = _browser_run(hook)
    everything = ObjectStoragePath(f"file://{tmp_path}/all")
    export(
        hook,
        everything,
        cid,
        rid,
        include=frozenset(["content", "extracted_data", "screenshot", "network_requests", "metadata"]),
    )
    objects = tree(everything)
    result = hook.get_job_result(cid, rid, read_manifest(everything)[0]["job_id"])
    shot = base64.b64decode(result.screenshot or "")
    assert objects["b0.screenshot.png"] == hashlib.sha256(shot).hexdigest()
    assert json.loads((everything / "b0.network.json").read_text()) == result.network_requests
    assert json.loads((everything / "b0.extracted.json").read_text()) == result.extracted_data
    meta = json.loads((everything / "b0.job.json").read_text())
    assert meta["custom_id"] == "b0" and meta["result"]["statusCode"] == 200 and "html" not in meta["result"]
    assert {k for k in objects if k.startswith("b2")} == {"b2.html", "b2.job.json"}
    manifest = {m["custom_id"]: m for m in read_manifest(everything)}
    assert manifest["b0"]["objects"] == [
        "b0.html",
        "b0.extracted.json",
        "b0.screenshot.png",
        "b0.network.json",
        "b0.job.json",
    ]

    pages_only = ObjectStoragePath(f"file://{tmp_path}/pages")
    export(hook, pages_only, cid, rid, include=frozenset(["content"]))
    assert sorted(k for k in tree(pages_only) if not k.startswith("_")) == ["b0.html", "b1.html", "b2.html"]


def test_only_success_exports_successes_and_lists_the_rest(
    sp: SandboxControl, hook: ScrapingProsHook, tmp_path: Path
) -> None:
    cid, rid, _ = make_run(hook, mixed_requests(100, "os"))
    root = ObjectStoragePath(f"file://{tmp_path}/ok")
    sp.clear_requests()
    outcome = export(hook, root, cid, rid, only_success=True)
    assert sp.count(RESULT_ROUTE) == 5  # bodies over the cap, all of them successes here
    manifest = read_manifest(root)
    assert len(manifest) == 100 and outcome.summary is not None
    assert {m["state"] for m in manifest if m["is_success"]} == {"exported"}
    unsuccessful = [m for m in manifest if not m["is_success"]]
    assert len(unsuccessful) == 20 and all(m["state"] == "failed" and m["key"] is None for m in unsuccessful)
    reasons = sorted({m["reason"] for m in unsuccessful})
    assert reasons == ["Worker timeout after 60s", "blocked: captcha", "connection reset", "http_404"], (
        reasons
    )
    assert (outcome.summary["exported"], outcome.summary["failed"]) == (80, 20)
    assert len([k for k in tree(root) if not k.startswith("_")]) == 80 + 5  # pages + extracted data


def test_a_run_the_api_failed_is_exported_as_far_as_it_went(
    sp: SandboxControl, hook: ScrapingProsHook, tmp_path: Path
) -> None:
    sp.set_faults({"seed": 3, "rules": [], "runs": {"fail": 1.0}})
    cid, rid, run = make_run(hook, mixed_requests(60, "rf", latency_ms=2000))
    assert run.status == "failed"
    root = ObjectStoragePath(f"file://{tmp_path}/failed")
    outcome = export(hook, root, cid, rid)
    assert outcome.summary is not None and outcome.summary["run_status"] == "failed"
    manifest = read_manifest(root)
    assert len(manifest) == 60  # every job is terminal once the run ended
    stopped = [m for m in manifest if m["reason"] == "run_failed"]
    assert stopped and all(m["state"] == "failed" for m in stopped)
    assert json.loads((root / "_SUCCESS.json").read_text())["run_status"] == "failed"


def test_jsonl_job_metadata_is_the_files_metadata_as_json(sp: SandboxControl, hook: ScrapingProsHook) -> None:
    """jsonl records splice `metadata_json` in as bytes; it must stay the same document as the
    `metadata` dict the files layout writes (a field added to one and not the other would drift)."""
    cid, rid, _ = make_run(hook, mixed_requests(20))
    page = hook.get_jobs_page(cid, rid, include_results=True, limit=20)
    assert len(page.items) == 20
    for job in page.items:
        for result in (job.result, None):
            assert metadata_json(job, result) == json_line(metadata(job, result))[:-1]
            assert json.loads(metadata_json(job, result)) == metadata(job, result)
