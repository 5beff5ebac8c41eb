"""Idempotency-Key on POST /v1/async/collections: misuse with another body is a 422, keys are
stored only for committed attempts, scoped to the account, forgotten after 24 h, and identical
requests in flight are serialised so the later ones get the replay. (The SDK's own replay through
`submit_batch(idempotency_key=...)` is in test_sdk_batch.py.)"""

from __future__ import annotations

import threading

import httpx
import pytest
from scrapingpros import SyncClient, ValidationError

from airflow_provider_scrapingpros.sandbox.control import SandboxControl

from .helpers import COLLECTIONS, R_COLLECTIONS, http, url

REPLAYED = "Idempotency-Replayed"


def test_idempotency_key_reuse_with_other_body(
    sp: SandboxControl, client: SyncClient, api: httpx.Client
) -> None:
    key = {"Idempotency-Key": "conformance-reuse"}
    first = api.post(COLLECTIONS, json={"name": "one", "requests": [{"url": url("1")}]}, headers=key)
    assert first.status_code == 201
    other = api.post(COLLECTIONS, json={"name": "two", "requests": [{"url": url("1")}]}, headers=key)
    assert other.status_code == 422
    assert other.json() == {
        "detail": "Idempotency-Key 'conformance-reuse' was already used with a different request body"
    }
    with pytest.raises(ValidationError):
        client.create_collection("three", idempotency_key="conformance-reuse")
    # Same body, reordered keys: bodies compare as parsed JSON, so this is a replay.
    again = api.post(COLLECTIONS, json={"requests": [{"url": url("1")}], "name": "one"}, headers=key)
    assert (again.status_code, again.json()["id"]) == (201, first.json()["id"])
    assert sp.stats()["collections_created"] == 1


def test_failed_attempts_store_nothing(sp: SandboxControl, api: httpx.Client) -> None:
    body = {"name": "retry-me"}
    assert (
        api.post(COLLECTIONS, content=b'{"requests": 5}', headers={"Idempotency-Key": "k-4xx"}).status_code
        == 422
    )
    after_4xx = api.post(COLLECTIONS, json=body, headers={"Idempotency-Key": "k-4xx"})
    assert (after_4xx.status_code, after_4xx.headers.get(REPLAYED)) == (201, None)

    sp.script_fault(R_COLLECTIONS, "error_5xx", 1)
    assert api.post(COLLECTIONS, json=body, headers={"Idempotency-Key": "k-5xx"}).status_code >= 500
    after_5xx = api.post(COLLECTIONS, json=body, headers={"Idempotency-Key": "k-5xx"})
    assert (after_5xx.status_code, after_5xx.headers.get(REPLAYED)) == (201, None)
    assert sp.stats()["collections_created"] == 2


def test_keys_are_scoped_to_the_account_and_expire(sp: SandboxControl, api: httpx.Client) -> None:
    body = {"name": "scoped"}
    key = {"Idempotency-Key": "shared-key"}
    mine = api.post(COLLECTIONS, json=body, headers=key).json()["id"]
    sp.set_token("sp_other_account", plan="growth")
    with http(sp.base_url, token="sp_other_account") as other:
        theirs = other.post(COLLECTIONS, json=body, headers=key)
    assert (theirs.status_code, theirs.headers.get(REPLAYED)) == (201, None)
    assert theirs.json()["id"] != mine

    sp.advance(23 * 3600)
    assert api.post(COLLECTIONS, json=body, headers=key).headers.get(REPLAYED) == "true"
    sp.advance(3600 + 1)
    fresh = api.post(COLLECTIONS, json=body, headers=key)
    assert (fresh.status_code, fresh.headers.get(REPLAYED)) == (201, None)
    assert fresh.json()["id"] != mine
    assert sp.stats()["collections_created"] == 3


def test_identical_requests_in_flight_are_serialised(sp: SandboxControl) -> None:
    body = {"name": "race", "requests": [{"url": url(f"race/{i}")} for i in range(2000)]}
    answers: list[tuple[int, str | None, str]] = []

    def post() -> None:
        with http(sp.base_url) as api:
            resp = api.post(COLLECTIONS, json=body, headers={"Idempotency-Key": "race-key"})
            answers.append((resp.status_code, resp.headers.get(REPLAYED), resp.json()["id"]))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len({cid for _, _, cid in answers}) == 1
    assert sorted(str(replayed) for _, replayed, _ in answers) == ["None", "true", "true", "true"]
    assert {status for status, _, _ in answers} == {201}
    assert sp.stats()["collections_created"] == 1
