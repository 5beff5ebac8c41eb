"""A destination claimed by another task: the export waits for the claim instead of failing its try.

On S3 (moto) a claim names its owner; one on another host is alive until its lease lapses. The
operator defers (no worker slot) until then and the next pass takes over from the dead owner —
byte for byte a clean export. A claim naming this host and a pid that now belongs to a later
process (a restarted container reuses pids) is dead at once."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_scrapingpros.export import claim as claim_module
from airflow_provider_scrapingpros.export.claim import LEASE_S, RENEW_S
from airflow_provider_scrapingpros.export.content import ExportOptions
from airflow_provider_scrapingpros.export.errors import ExportInProgressError
from airflow_provider_scrapingpros.export.session import ExportPlan
from airflow_provider_scrapingpros.export.state import SPEC_KEY
from airflow_provider_scrapingpros.export.store import ExportStore
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from airflow_provider_scrapingpros.operators.export import ScrapingProsExportResultsOperator
from airflow_provider_scrapingpros.sandbox import Sandbox
from airflow_provider_scrapingpros.triggers.export import ScrapingProsExportFollowTrigger
from tests.export.conftest import S3_CONN_ID
from tests.export.helpers import export, make_run, mixed_requests, tree
from tests.task_context import TaskDeferred, context_for, run_trigger


@pytest.fixture(scope="module")
def small_run(sandbox: Sandbox, api_env: None) -> Iterator[tuple[ScrapingProsHook, str, str]]:
    sandbox.control.reset()
    hook = ScrapingProsHook()
    cid, rid, _ = make_run(hook, mixed_requests(8, "claim"))
    yield hook, cid, rid
    hook.close()


def _claimed(root: ObjectStoragePath, cid: str, rid: str, owner: dict[str, Any]) -> None:
    """`_export/export.json` as a pass of this export on `owner` leaves it when it dies at once."""
    spec = ExportPlan(cid, rid, ExportOptions()).spec
    ExportStore(root).put(SPEC_KEY, (json.dumps({**spec, "owner": owner}, sort_keys=True) + "\n").encode())


def _operator(cid: str, rid: str, destination: str) -> ScrapingProsExportResultsOperator:
    return ScrapingProsExportResultsOperator(
        task_id="export",
        collection_id=cid,
        run_id=rid,
        destination=destination,
        storage_conn_id=S3_CONN_ID,
        follow=False,
    )


def test_another_hosts_live_claim_defers_until_its_lease_lapses_then_the_export_takes_over(
    small_run: tuple[ScrapingProsHook, str, str], make_bucket: Callable[..., str], moto_endpoint: str
) -> None:
    hook, cid, rid = small_run
    clean_root = ObjectStoragePath(f"s3://{make_bucket()}/out/", conn_id=S3_CONN_ID)
    export(hook, clean_root, cid, rid)
    bucket = make_bucket()
    root = ObjectStoragePath(f"s3://{bucket}/out/", conn_id=S3_CONN_ID)
    op = _operator(cid, rid, f"s3://{bucket}/out/")
    # A worker on another machine, last heard of 30 s ago: look again in a renewal period (it may
    # have finished by then); heard of 100 s ago: when its lease lapses, which is sooner.
    for heard, wait in ((30, RENEW_S), (100, LEASE_S + 1.0 - 100)):
        owner = {"token": "t", "host": "worker-elsewhere", "pid": 7, "renewed_at": time.time() - heard}
        _claimed(root, cid, rid, owner)
        before = time.time()
        with pytest.raises(TaskDeferred) as deferred:
            op.execute(context_for())
        trigger = deferred.value.trigger
        assert isinstance(trigger, ScrapingProsExportFollowTrigger)
        assert deferred.value.method_name == "execute_complete"
        assert trigger.not_before is not None
        assert before + wait - 0.5 <= trigger.not_before <= time.time() + wait + 0.5
        assert trigger.wake_at_done == 0
    assert tree(root) == {"_export/export.json": tree(root)["_export/export.json"]}  # nothing written

    # The lease lapsed (that worker is dead): the trigger wakes at once and the next pass takes over.
    _claimed(root, cid, rid, {"token": "t", "host": "worker-elsewhere", "pid": 7, "renewed_at": 0.0})
    trigger.not_before = time.time()
    event = run_trigger(trigger)
    assert event["status"] == "ready"
    summary = op.execute_complete(context_for(), event)
    assert summary["jobs"] == 8
    assert tree(root) == tree(clean_root)


def test_the_trigger_waits_for_not_before(small_run: tuple[ScrapingProsHook, str, str]) -> None:
    _, cid, rid = small_run
    started = time.monotonic()
    trigger = ScrapingProsExportFollowTrigger(cid, rid, wake_at_done=0, not_before=time.time() + 1.0)
    assert trigger.serialize()[1]["not_before"] == trigger.not_before
    assert run_trigger(trigger)["status"] == "ready"
    assert time.monotonic() - started >= 0.95


def test_a_claim_of_this_host_by_a_reused_pid_is_taken_over_at_once(
    small_run: tuple[ScrapingProsHook, str, str], make_bucket: Callable[..., str], moto_endpoint: str
) -> None:
    hook, cid, rid = small_run
    bucket = make_bucket()
    root = ObjectStoragePath(f"s3://{bucket}/out/", conn_id=S3_CONN_ID)
    parent = os.getppid()  # alive, but started at another time than the recorded owner
    started = claim_module._pid_started(parent)
    assert started is not None
    owner = {"token": "t", "host": claim_module._HOST, "pid": parent, "renewed_at": time.time()}
    _claimed(root, cid, rid, owner | {"pid_started": started + 1})
    assert export(hook, root, cid, rid).finished  # the owner's pid was reused: it is gone

    # The same pid with its real start time is a live owner: refused, and told to look again soon.
    bucket = make_bucket()
    root = ObjectStoragePath(f"s3://{bucket}/out/", conn_id=S3_CONN_ID)
    _claimed(root, cid, rid, owner | {"pid_started": started})
    before = time.time()
    with pytest.raises(ExportInProgressError) as refused:
        export(hook, root, cid, rid)
    assert refused.value.retry_at is not None
    assert before + RENEW_S - 1 <= refused.value.retry_at <= time.time() + RENEW_S
