"""The 48-hour retention, on a manual-clock sandbox: half the jobs completed 49 h before the export,
half just now. Expired bodies are `expired` in the manifest; `on_expired="fail"` fails loudly after
writing everything still available; `"record"` succeeds."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_scrapingpros.export.errors import ExportExpiredError
from airflow_provider_scrapingpros.export.store import ExportStore
from airflow_provider_scrapingpros.sandbox import Sandbox
from tests.export.helpers import export, make_aged_run, read_manifest, runner, tree

N = 40


@pytest.fixture
def aged_run(sandbox_factory: Callable[..., Sandbox], hook_for: Callable[[Sandbox], Any]) -> dict[str, Any]:
    sb = sandbox_factory(clock="manual", time_scale=1.0, worker_timeout=200_000)
    return make_aged_run(sb, hook_for(sb), N)


def _check_written(root: ObjectStoragePath, run: dict[str, Any]) -> list[dict[str, Any]]:
    manifest, objects = read_manifest(root), tree(root)
    expired = [m for m in manifest if m["state"] == "expired"]
    assert sorted(int(m["custom_id"][2:]) for m in expired) == list(range(0, N, 2))
    assert all((m["reason"], m["key"], m["is_success"]) == ("result_expired", None, True) for m in expired)
    exported = [m for m in manifest if m["state"] == "exported"]
    assert sorted(int(m["custom_id"][2:]) for m in exported) == list(range(1, N, 2))
    for entry in exported:  # everything still available was written, byte for byte
        assert objects[entry["key"]] == entry["sha256"] == run["truth"][entry["job_id"]]["body_sha256"]
    return manifest


def test_fail_writes_everything_available_then_fails_loudly(
    aged_run: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = ObjectStoragePath(f"file://{tmp_path}/fail")
    caplog.set_level(logging.INFO, logger="tests.export")
    with pytest.raises(ExportExpiredError) as failure:
        export(aged_run["hook"], root, aged_run["cid"], aged_run["rid"], on_expired="fail")
    assert failure.value.expired == N // 2
    assert failure.value.oldest_age_hours == pytest.approx(49.0, abs=0.01)
    message = str(failure.value)
    assert f"{N // 2} of {N} jobs" in message and "the oldest 49.0 h after completion" in message
    assert "on_expired='record'" in message and "_manifest.jsonl" in message
    _check_written(root, aged_run)
    assert not (root / "_SUCCESS.json").exists()  # a reader must not trust an export with gaps
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("is gone, 49.0 h after completion by the API's clock" in w for w in warnings), warnings

    # Accepting the gap afterwards costs one object: the marker (nothing else is rewritten).
    before = tree(root)
    store = ExportStore(root)
    done = runner(aged_run["hook"], root, aged_run["cid"], aged_run["rid"], store=store, on_expired="record")
    summary = done.run_pass(follow=False).summary
    assert store.writes == 1 and summary is not None and summary["expired"] == N // 2
    after = tree(root)
    assert {k: v for k, v in before.items() if not k.startswith("_export/")} == {
        k: v for k, v in after.items() if k != "_SUCCESS.json"
    }


def test_record_succeeds_and_counts_expired(aged_run: dict[str, Any], tmp_path: Path) -> None:
    root = ObjectStoragePath(f"file://{tmp_path}/record")
    outcome = export(aged_run["hook"], root, aged_run["cid"], aged_run["rid"], on_expired="record")
    assert outcome.finished and outcome.summary is not None
    counts = {k: outcome.summary[k] for k in ("jobs", "exported", "expired", "failed", "lost", "successful")}
    assert counts == {
        "jobs": N,
        "exported": N // 2,
        "expired": N // 2,
        "failed": 0,
        "lost": 0,
        "successful": N,
    }
    _check_written(root, aged_run)
    assert json.loads((root / "_SUCCESS.json").read_text())["expired"] == N // 2
