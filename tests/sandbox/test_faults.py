"""Fault injection as the SDK meets it (docs/sandbox.md#s2-fault-profile): a response lost after commit is
recovered by resending the same Idempotency-Key; a committed `POST …/run` answered 5xx is retried
by the SDK into a duplicate run (the documented hazard); a dropped connection is a ConnectionError.
Every faulted request is in the log with its fault and a `None` status when nothing was answered.
The same seed draws the same faults, scripted faults come first, and a commit-only fault waits for
a committing route."""

from __future__ import annotations

import pytest
from scrapingpros import ConnectionError, SubmitTimeout, SyncClient

from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from airflow_provider_scrapingpros.sandbox.faults import FaultProfile, Faults, parse_profile

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
        client.get_run(col.id, run.run_id)  # the SDK retries no transport error
    assert client.get_run(col.id, run.run_id).status == "completed"
    assert [(r["status"], r["fault"]) for r in sp.requests(route=R_RUN)] == [(None, "drop"), (200, None)]
    assert_run_invariants(sp.base_url, TOKEN, col.id, run.run_id)


def test_same_seed_same_faults_and_scripted_faults_come_first() -> None:
    profile = parse_profile({"seed": 7, "rules": [{"match": "GET *", "error_5xx": 0.5, "rate_429": 0.2}]})
    first, second = Faults(profile), Faults(profile)
    route = "GET /v1/async/collections/{cid}"
    draws = [first.decide(route) for _ in range(50)]
    assert draws == [second.decide(route) for _ in range(50)]
    assert {d.fault for d in draws} == {None, "error_5xx", "rate_429"}
    first.script("POST *", "lost_after_commit", 1)
    assert first.decide("POST /v1/async/collections/{cid}/run").fault == "lost_after_commit"
    assert Faults(FaultProfile()).decide(route).fault is None


def test_lost_after_commit_never_hits_a_route_that_commits_nothing() -> None:
    faults = Faults(FaultProfile())
    faults.script("*", "lost_after_commit", 1)
    assert faults.decide("GET /v1/health").fault is None
    assert faults.decide("POST /v1/async/collections").fault == "lost_after_commit"
    with pytest.raises(ValueError, match="fault probabilities add up to more than 1"):
        parse_profile({"rules": [{"match": "*", "drop": 0.7, "error_5xx": 0.7}]})
