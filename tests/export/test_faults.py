"""A flaky API (20 % 5xx, 10 % 429, 2 % dropped connections on every route) changes nothing in the
export: the destination is byte-identical to the one written against a healthy API."""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import ObjectStoragePath

from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from tests.export.helpers import JOBS_ROUTE, RESULT_ROUTE, export, make_run, mixed_requests, tree

FAULTS = {
    "seed": 11,
    "rules": [{"match": "*", "error_5xx": 0.2, "rate_429": 0.1, "drop": 0.02, "retry_after": 1}],
}


def test_faulty_api_gives_identical_outputs(
    sp: SandboxControl, hook: ScrapingProsHook, tmp_path: Path
) -> None:
    cid, rid, _ = make_run(hook, mixed_requests(400, "f"))
    clean = ObjectStoragePath(f"file://{tmp_path}/clean")
    export(hook, clean, cid, rid, layout="jsonl", part_max_records=100)

    sp.set_faults(FAULTS)
    # 2 % of ~40 requests may draw no drop at all: make sure a page and a /result call see one
    sp.script_fault(JOBS_ROUTE, "drop")
    sp.script_fault(RESULT_ROUTE, "drop")
    sp.clear_requests()
    faulty = ObjectStoragePath(f"file://{tmp_path}/faulty")
    outcome = export(hook, faulty, cid, rid, layout="jsonl", part_max_records=100)
    log = sp.requests()
    sp.set_faults({"rules": []})

    injected = [r["fault"] for r in log if r["fault"]]
    assert {"rate_429", "drop"} <= set(injected) and any(f.startswith("error_5") for f in injected), injected
    assert outcome.summary is not None and outcome.summary["exported"] == 360
    assert tree(faulty) == tree(clean)
