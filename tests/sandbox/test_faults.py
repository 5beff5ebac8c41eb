"""Fault injection as the SDK meets it (§13.1, §13.6, §15 S2): a response lost after commit is
recovered by resending the same Idempotency-Key; a committed `POST …/run` answered 5xx is retried
by the SDK into a duplicate run (the documented hazard); a dropped connection is a ConnectionError.
Every faulted request is in the log with its fault and a `None` status when nothing was answered."""

from __future__ import annotations

import pytest
from scrapingpros import ConnectionError, SubmitTimeout, SyncClient

from airflow_provider_scrapingpros.sandbox.control import SandboxControl

from .helpers import R_COLLECTIONS, R_CREATE_RUN, R_RUN, TOKEN, BatchItems, url
from .invariants import assert_run_invariants


def test_lost_submit_is_recovered_with_the_same_key(sp: SandboxControl, client: SyncClient) -> None:
    items: BatchItems = [{"url": url("lost/1")}, {"url": url("lost/2")}]
    sp.script_fault(R_COLLECTIONS, "lost_after_commit", 1)
    with pytest.raises(SubmitTimeout):
        client.submit_batch("lost", items, idempotency_key="lost-key")
    assert sp.stats()["collections_created"] == 1  # applied in full before the connection closed

    batch = client.submit_batch("lost", items, idempotency_key="lost-key")

    assert sp.stats()["collections_created"] == 1
    log = sp.requests(route=R_COLLECTIONS)
    assert [(r["status"], r["fault"], r["idempotency_key"]) for r in log] == [
        (None, "lost_after_commit", "lost-key"),
        (201, None, "lost-key"),
    ]
    assert len(list(batch.iter_results(poll_interval=0.02, timeout=30))) == 2
    assert_run_invariants(sp.base_url, TOKEN, batch.collection_id, batch.run_id)


def test_committed_run_answered_5xx_is_duplicated_by_the_sdk(sp: SandboxControl, client: SyncClient) -> None:
    col = client.create_collection("dup-run", [{"url": url("d")}])
    assert col.id is not None
    sp.script_fault(R_CREATE_RUN, "lost_after_commit_5xx", 1)

    run = client.create_run(col.id)

    assert [(r["status"], r["fault"]) for r in sp.requests(route=R_CREATE_RUN)] == [
        (502, "lost_after_commit_5xx"),
        (201, None),
    ]
    runs = client.list_runs(col.id)
    assert runs.total == 2 and runs.items[0].run_id == run.run_id  # newest first: the retry's run
    for listed in runs.items:
        assert_run_invariants(sp.base_url, TOKEN, col.id, listed.run_id)


def test_dropped_connection_is_a_connection_error(sp: SandboxControl, client: SyncClient) -> None:
    col = client.create_collection("drop", [{"url": url("x")}])
    assert col.id is not None
    run = client.run_and_wait(col.id, poll_interval=0.02, timeout=30)
    sp.clear_requests()
    sp.script_fault(R_RUN, "drop", 1)
    with pytest.raises(ConnectionError):
        client.get_run(col.id, run.run_id)  # transport errors are not retried (§13.1)
    assert client.get_run(col.id, run.run_id).status == "completed"
    assert [(r["status"], r["fault"]) for r in sp.requests(route=R_RUN)] == [(None, "drop"), (200, None)]
    assert_run_invariants(sp.base_url, TOKEN, col.id, run.run_id)
