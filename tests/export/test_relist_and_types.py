"""A listing that skipped jobs is re-listed in full; S3 objects carry their content
type; a resumed pass says what it found, checked and wrote."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_scrapingpros.export.errors import ExportIncompleteError
from airflow_provider_scrapingpros.export.store import ExportStore
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from tests.export.conftest import S3_CONN_ID
from tests.export.helpers import HidingProxy, export, make_run, mixed_requests, read_manifest, runner, tree

N = 30


@pytest.fixture(scope="module")
def run30(sandbox: Any, api_env: None) -> Iterator[tuple[ScrapingProsHook, str, str]]:
    hook = ScrapingProsHook()
    cid, rid, _ = make_run(hook, mixed_requests(N, "rl"))
    yield hook, cid, rid
    hook.close()


@pytest.fixture
def proxy(sandbox: Any) -> Iterator[HidingProxy]:
    p = HidingProxy(sandbox.base_url)
    yield p
    p.close()


def test_a_retry_relists_jobs_an_earlier_listing_skipped(
    run30: Any, proxy: HidingProxy, hook_for: Callable[[Any], ScrapingProsHook], tmp_path: Path
) -> None:
    _, cid, rid = run30
    hook = hook_for(proxy)
    root = ObjectStoragePath(f"file://{tmp_path}/out")
    clean = ObjectStoragePath(f"file://{tmp_path}/clean")
    export(hook, clean, cid, rid, layout="jsonl")
    order = [e["job_id"] for e in read_manifest(clean)]
    proxy.hide = {order[2]}  # an early job: later ones move the high-water mark past it
    with pytest.raises(ExportIncompleteError) as failed:
        export(hook, root, cid, rid, layout="jsonl")
    message = str(failed.value)
    assert (
        f"with {N} jobs, but the jobs listing gave {N - 1}, also when listed again from the start" in message
    )
    assert "a retry lists the whole run again and adds only the missing jobs" in message
    proxy.hide = set()
    outcome = export(hook, root, cid, rid, layout="jsonl")
    assert outcome.summary is not None and outcome.summary["jobs"] == N
    manifest = read_manifest(root)
    assert sorted(e["job_id"] for e in manifest) == sorted(order)
    assert [e["job_id"] for e in manifest][-1] == order[2]  # appended once, at the end


def test_a_job_skipped_once_is_found_in_the_same_pass(
    run30: Any, proxy: HidingProxy, hook_for: Callable[[Any], ScrapingProsHook], tmp_path: Path
) -> None:
    _, cid, rid = run30
    hook = hook_for(proxy)
    clean = ObjectStoragePath(f"file://{tmp_path}/clean")
    export(hook, clean, cid, rid, layout="files")
    order = [e["job_id"] for e in read_manifest(clean)]
    proxy.hide, proxy.hide_listings = {order[0]}, 1  # the first walk misses it, then it shows
    listings = proxy.listings
    out = ObjectStoragePath(f"file://{tmp_path}/out")
    r = runner(hook, out, cid, rid, layout="files")
    outcome = r.run_pass(follow=False)
    assert outcome.summary is not None and outcome.summary["jobs"] == N
    assert proxy.listings - listings == 2  # one page per walk: the walk, then the whole run again
    assert {e["job_id"] for e in read_manifest(out)} == set(order)


def test_s3_objects_carry_their_content_type(
    run30: Any, make_bucket: Callable[..., str], moto_endpoint: str
) -> None:
    hook, cid, rid = run30
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    for layout in ("files", "jsonl"):
        bucket = make_bucket()
        root = ObjectStoragePath(f"s3://{bucket}/out", conn_id=S3_CONN_ID)
        export(hook, root, cid, rid, layout=layout)
        heads = {}
        for key in tree(root):
            head = client.head_object(Bucket=bucket, Key=f"out/{key}")
            heads[key] = (head["ContentType"], head.get("ContentEncoding"))
        assert heads["_SUCCESS.json"] == ("application/json", None)
        assert heads["_manifest.jsonl"] == ("application/x-ndjson", None)
        for entry in read_manifest(root):
            if layout == "files" and entry["key"] is not None:
                assert heads[entry["key"]] == (entry["content_type"], None)
                for side in entry["objects"][1:]:
                    assert heads[side] == ("application/json", None), side
            elif entry["key"] is not None:
                assert heads[entry["key"]] == ("application/x-ndjson", "gzip")
        if layout == "files":
            assert ("application/pdf", None) in heads.values() and (
                "text/html; charset=utf-8",
                None,
            ) in heads.values()


class Dies(ExportStore):
    def __init__(self, root: ObjectStoragePath, after: int) -> None:
        super().__init__(root)
        self.after = after

    def _count(self) -> None:
        super()._count()
        if self.writes == self.after:
            raise RuntimeError("worker lost")


def test_a_resumed_pass_logs_what_it_found_checked_and_wrote(
    run30: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hook, cid, rid = run30
    root = ObjectStoragePath(f"file://{tmp_path}/out")
    opts: dict[str, Any] = {"layout": "files", "segment_size": 10}
    first = Dies(
        root, after=20
    )  # export.json, 10 jobs' objects + segment, then some objects of the next batch
    with pytest.raises(RuntimeError):
        runner(hook, root, cid, rid, store=first, **opts).run_pass(follow=False)
    seg_jobs = 10
    caplog.set_level(logging.INFO, logger="tests.export")
    caplog.clear()
    second = ExportStore(root)
    runner(hook, root, cid, rid, store=second, **opts).run_pass(follow=False)
    lines = [r.getMessage() for r in caplog.records if r.name == "tests.export"]
    assert (
        f"Resuming the export of run {rid}: {seg_jobs} job(s) in 1 committed segment(s) are kept; objects an "
        "interrupted attempt may have stored after them are checked before anything is written."
    ) in lines
    found = [line for line in lines if line.startswith("Objects this pass:")]
    checks = second.checked
    assert found == [
        f"Objects this pass: {second.writes} written; {checks} checked against the destination first "
        f"({second.kept} found already stored with the same size and sha256 and kept, "
        f"{checks - second.kept} missing or different)."
    ]
    # what the dead attempt stored after its last segment was found and kept, not rewritten
    assert second.kept == 20 - 1 - seg_jobs_objects(root, seg_jobs) - 1


def seg_jobs_objects(root: ObjectStoragePath, jobs: int) -> int:
    """Objects the first `jobs` manifest lines point to."""
    return sum(len(e["objects"]) for e in read_manifest(root)[:jobs])
