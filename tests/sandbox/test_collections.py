"""Collections (docs/api-notes.md#collections-and-idempotency): the item pipeline's buckets, whole-request
422s, idempotency-key misuse, listing order and filters, PUT, DELETE semantics and tenancy (foreign ids are
404)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from scrapingpros import SyncClient

from airflow_provider_scrapingpros.sandbox.control import SandboxControl

from .helpers import COLLECTIONS, TOKEN, create_collection, http, list_jobs, run_path, start_run, submit, url
from .invariants import assert_run_invariants
from .webhook_receiver import WebhookReceiver

A = "https://example.com/a"
PIPELINE: list[Any] = [
    {"url": A, "custom_id": "a"},  # 0 accepted
    "not an object",  # 1 invalid: not_a_dict
    {"url": "https://example.com/b", "actions": [{"type": "click"}]},  # 2 invalid: actions.0.selector
    {"url": "https://example.com/c", "screenshot": True},  # 3 invalid: param_invalid
    {"url": "http://10.1.2.3/x"},  # 4 blocked: private_ip
    {"url": "http://localhost:8080/"},  # 5 blocked: blocked_hostname
    {"url": "ftp://example.com/file"},  # 6 blocked: invalid_protocol
    {"url": A, "custom_id": "a"},  # 7 duplicate of 0
    {"url": A, "custom_id": "other"},  # 8 accepted: same URL, other custom_id
    {"url": "  www.example.com/d  "},  # 9 accepted after trim + https:// prefix
    {"url": A, "custom_id": "a"},  # 10 duplicate of 0
    {"url": "https://example.com/e", "custom_id": "x" * 256},  # 11 invalid: string_too_long
    {"url": "https://metadata.google.internal/"},  # 12 blocked: blocked_hostname
    {"url": "https://shop.invalid/"},  # 13 blocked: dns_failed
    {"url": "http://example.com:99999/"},  # 14 blocked: invalid_port
    {"url": "https://www.example.com/d"},  # 15 duplicate of 9 (compared after normalising)
]


def test_item_pipeline_buckets(sp: SandboxControl, api: httpx.Client) -> None:
    resp = api.post(COLLECTIONS, json={"name": "buckets", "requests": PIPELINE})
    assert resp.status_code == 201
    body = resp.json()

    assert body["message"] == "Collection created successfully."
    assert body["name"] == "buckets"
    invalid = [
        (i["index"], i["url"], [(e["field"], e["error_type"]) for e in i["errors"]])
        for i in body["invalid_items"]
    ]
    assert invalid == [
        (1, None, [("<root>", "not_a_dict")]),
        (2, "https://example.com/b", [("actions.0.selector", "missing")]),
        (3, "https://example.com/c", [("screenshot", "param_invalid")]),
        (11, "https://example.com/e", [("custom_id", "string_too_long")]),
    ]
    assert all(e["message"] for i in body["invalid_items"] for e in i["errors"])
    blocked = [(b["index"], b["url"], b["reason"]) for b in body["blocked_urls"]]
    assert blocked == [
        (4, "http://10.1.2.3/x", "private_ip"),
        (5, "http://localhost:8080/", "blocked_hostname"),
        (6, "ftp://example.com/file", "invalid_protocol"),
        (12, "https://metadata.google.internal/", "blocked_hostname"),
        (13, "https://shop.invalid/", "dns_failed"),
        (14, "http://example.com:99999/", "invalid_port"),
    ]
    assert body["duplicate_urls"] == [A, A, "https://www.example.com/d"]
    assert body["duplicates_skipped"] == 3
    accepted = len(PIPELINE) - len(blocked) - len(invalid) - body["duplicates_skipped"]
    assert accepted == 3

    run = start_run(api, body["id"])
    assert (run["status"], run["total_requests"], len(run["job_ids"])) == ("in_progress", accepted, 3)
    assert (run["success_requests"], run["failed_requests"], run["timeout_requests"]) == (0, 0, 0)
    checked = assert_run_invariants(sp.base_url, TOKEN, body["id"], run["run_id"])
    assert [(j["url"], j["custom_id"]) for j in checked.jobs] == [
        (A, "a"),
        (A, "other"),
        ("https://www.example.com/d", None),
    ]


def test_sdk_submit_reports_partial_success(sp: SandboxControl, client: SyncClient) -> None:
    items: list[Any] = [url("ok"), url("ok"), "http://10.0.0.1/", {"url": url("shot"), "screenshot": True}]
    with pytest.warns(RuntimeWarning):
        batch = client.submit_batch("partial", items)
    summary = batch.summary()
    assert (summary.submitted, summary.queued, summary.blocked, summary.invalid, summary.duplicates) == (
        4,
        1,
        1,
        1,
        1,
    )
    results = list(batch.iter_results(poll_interval=0.02, timeout=30))
    assert [(r.url, r.message) for r in results] == [(url("ok"), "OK")]
    checked = assert_run_invariants(sp.base_url, TOKEN, batch.collection_id, batch.run_id)
    assert checked.run["total_requests"] == 1


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"requests": []}',
        b'{"name": 7}',
        b'{"name": "x", "requests": {"url": "https://example.com"}}',
        b'{"name": "x", "callback_url": "not a url"}',
    ],
)
def test_whole_request_422(sp: SandboxControl, api: httpx.Client, body: bytes) -> None:
    resp = api.post(COLLECTIONS, content=body)
    assert resp.status_code == 422
    assert list(resp.json()) == ["detail"]
    assert sp.stats()["collections_created"] == 0


def test_listing_order_filters_and_shape(sp: SandboxControl, api: httpx.Client) -> None:
    ids = [create_collection(api, [], name=name)["id"] for name in ("x", "y", "x")]
    listed = api.get(COLLECTIONS).json()
    assert [c["id"] for c in listed] == list(reversed(ids))  # newest first
    assert all(set(c) == {"id", "name", "created_at", "updated_at"} for c in listed)
    assert all(isinstance(c["created_at"], float) for c in listed)
    assert [c["id"] for c in api.get(COLLECTIONS, params={"name": "x"}).json()] == [ids[2], ids[0]]
    assert api.get(COLLECTIONS, params={"name": "x", "since": "2999-01-01T00:00:00Z"}).json() == []
    assert len(api.get(COLLECTIONS, params={"since": "2000-01-01T00:00:00+00:00"}).json()) == 3
    assert api.get(COLLECTIONS, params={"since": "yesterday"}).status_code == 422


def test_put_replaces_requests_without_touching_runs(sp: SandboxControl, api: httpx.Client) -> None:
    cid, rid = submit(api, [{"url": url("old")}])
    before = api.get(f"{COLLECTIONS}/{cid}").json()
    sp.advance(2)
    put = api.put(f"{COLLECTIONS}/{cid}", json={"name": "renamed", "requests": [{"url": url("new")}, "bad"]})
    assert put.status_code == 200
    assert (put.json()["message"], put.json()["id"]) == ("Collection updated successfully.", cid)
    assert [i["index"] for i in put.json()["invalid_items"]] == [1]
    after = api.get(f"{COLLECTIONS}/{cid}").json()
    assert (after["name"], after["created_at"]) == ("renamed", before["created_at"])
    assert after["updated_at"] >= before["updated_at"] + 2
    new_rid = start_run(api, cid)["run_id"]
    assert [j["url"] for j in list_jobs(api, cid, rid)] == [url("old")]
    assert [j["url"] for j in list_jobs(api, cid, new_rid)] == [url("new")]
    for run_id in (rid, new_rid):
        assert_run_invariants(sp.base_url, TOKEN, cid, run_id)


def test_delete_keeps_runs_reachable(sp: SandboxControl, api: httpx.Client) -> None:
    with WebhookReceiver() as receiver:
        sp.freeze()  # the run stays in progress across the delete
        cid, rid = submit(api, [{"url": url("keep")}], name="doomed", callback_url=receiver.url)
        deleted = api.delete(f"{COLLECTIONS}/{cid}")
        assert (deleted.status_code, deleted.json()) == (200, {"message": "Collection deleted successfully."})

        gone = {"detail": "Collection not found"}
        path = f"{COLLECTIONS}/{cid}"
        for resp in (
            api.get(path),
            api.put(path, json={"name": "n"}),
            api.delete(path),
            api.post(f"{path}/run"),
        ):
            assert (resp.status_code, resp.json()) == (404, gone)
        assert api.get(COLLECTIONS).json() == []
        assert api.get(COLLECTIONS, params={"name": "doomed"}).json() == []
        assert api.get(run_path(cid, rid)).json()["status"] == "in_progress"
        assert [r["run_id"] for r in api.get(f"{path}/runs").json()["items"]] == [rid]

        sp.resume()  # a run in progress continues and its webhook fires
        checked = assert_run_invariants(sp.base_url, TOKEN, cid, rid)
        assert len(receiver.wait(1)) == 1
    job_id = checked.jobs[0]["job_public_id"]
    result = api.get(f"{run_path(cid, rid)}/jobs/{job_id}/result")
    assert (result.status_code, result.json()["message"]) == (200, "OK")
    assert sp.stats()["collections"] == 0


def test_foreign_ids_are_404(sp: SandboxControl, api: httpx.Client) -> None:
    cid, rid = submit(api, [{"url": url("mine")}])
    sp.set_token("sp_other_account", plan="growth")
    with http(sp.base_url, token="sp_other_account") as stranger:
        for path in (f"{COLLECTIONS}/{cid}", run_path(cid, rid), f"{COLLECTIONS}/{cid}/runs"):
            assert stranger.get(path).status_code == 404
        assert stranger.get(COLLECTIONS).json() == []
    assert_run_invariants(sp.base_url, TOKEN, cid, rid)


def test_wire_leniency(sp: SandboxControl, api: httpx.Client) -> None:
    """Unknown request keys are ignored, and no route ever answers a 3xx (no slash redirects)."""
    body = {"name": "lenient", "owner": "me", "requests": [{"url": url("k"), "priority": "high"}]}
    created = api.post(COLLECTIONS, json=body)
    assert (created.status_code, created.json()["invalid_items"]) == (201, [])
    for path in (f"{COLLECTIONS}/", f"{COLLECTIONS}/{created.json()['id']}/"):
        assert not 300 <= api.get(path).status_code < 400, path
