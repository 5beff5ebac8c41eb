"""The webhook receiver in a real Airflow API server (docs/webhook-receiver.md): the sandbox's signed
`run.completed` becomes exactly one Asset event on the collection's Asset; anything unsigned, stale,
altered, oversized or about an unwatched collection is refused with its reason and records nothing;
the endpoint needs no Airflow credentials while the core API still does."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from airflow_provider_scrapingpros.client.webhooks import sign
from airflow_provider_scrapingpros.runs.completion import announced_run_id
from tests.sandbox.helpers import http, run_path, start_run, wait_for
from tests.sandbox.invariants import parse_stamp

from .conftest import SECRET, TOKEN, Stack


def _payload(stack: Stack, collection_id: str, run_id: str) -> bytes:
    payload = {
        "event": "run.completed",
        "run_id": run_id,
        "collection_id": collection_id,
        "status": "completed",
        "total_requests": 1,
        "success_requests": 1,
        "failed_requests": 0,
        "job_ids": ["j1"],
        "results_url": f"{stack.sandbox.base_url}{run_path(collection_id, run_id)}",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def _signed_headers(body: bytes, *, secret: str = SECRET, ts: int | None = None) -> dict[str, str]:
    at = int(time.time()) if ts is None else ts
    return {
        "Content-Type": "application/json",
        "X-SP-Timestamp": str(at),
        "X-SP-Signature": sign(secret, at, body),
    }


def _post(stack: Stack, body: bytes, headers: dict[str, str], conn_id: str = "sp_hooks") -> httpx.Response:
    return httpx.post(stack.hook_url(conn_id), content=body, headers=headers, timeout=30)


def _real_run(stack: Stack, collection_id: str, *, attempts: int = 1) -> tuple[str, list[dict[str, Any]]]:
    """Start a run in the sandbox; wait until its webhook attempts are done; (run id, attempts)."""
    with http(stack.sandbox.base_url) as api:
        run_id = str(start_run(api, collection_id)["run_id"])

    def finished() -> list[dict[str, Any]] | None:
        mine = [a for a in stack.sandbox.control.webhooks() if a["run_id"] == run_id]
        return mine if len(mine) >= attempts and mine[-1]["outcome"] in ("sent", "failed") else None

    return run_id, wait_for(finished, timeout=30, what=f"{attempts} webhook attempt(s) of run {run_id}")


@pytest.fixture
def no_faults(stack: Stack) -> Iterator[None]:
    stack.sandbox.control.set_faults({})
    yield
    stack.sandbox.control.set_faults({})


def test_a_signed_delivery_records_one_event_with_the_exact_extra(
    stack: Stack, no_faults: None, admin_token: str
) -> None:
    run_id, attempts = _real_run(stack, stack.watched)
    assert [(a["attempt"], a["status"], a["outcome"]) for a in attempts] == [(1, 200, "sent")]
    events = stack.run_events(run_id)
    assert len(events) == 1
    with http(stack.sandbox.base_url) as api:
        jobs = api.get(f"{run_path(stack.watched, run_id)}/jobs").json()["items"]
    ended = max(parse_stamp(job["completed_at"]) for job in jobs).strftime("%Y-%m-%dT%H:%M:%SZ")
    payload = {
        "event": "run.completed",
        "source": "webhook",
        "collection_id": stack.watched,
        "run_id": run_id,
        "status": "completed",
        "total_requests": 1,
        "success_requests": 1,
        "failed_requests": 0,
        "timeout_requests": None,
        "outcome": "success",
        "run_url": f"{stack.sandbox.base_url}{run_path(stack.watched, run_id)}",
        "completed_at": ended,
    }
    expected = {"from_webhook": True, "payload": payload}  # the shape Airflow gives a watcher's event
    assert events[0][1] == expected
    # The same event through the core REST API (which does need a token), on the collection's Asset.
    resp = httpx.get(
        f"{stack.api_url}/api/v2/assets/events",
        params={"limit": 100},
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert resp.status_code == 200, resp.text
    mine = [e for e in resp.json()["asset_events"] if announced_run_id(e["extra"]) == run_id]
    assert [(e["id"], e["uri"], e["extra"]) for e in mine] == [
        (events[0][0], stack.uri(stack.watched), expected)
    ]


def test_redeliveries_are_answered_2xx_and_add_nothing(stack: Stack, no_faults: None) -> None:
    stack.sandbox.control.set_faults({"webhooks": {"lost_ack": 2}})
    run_id, attempts = _real_run(stack, stack.watched, attempts=3)
    assert [(a["attempt"], a["status"], a["outcome"]) for a in attempts] == [
        (1, 200, "retrying"),
        (2, 200, "retrying"),
        (3, 200, "sent"),
    ]
    assert len(stack.run_events(run_id)) == 1


def test_concurrent_copies_of_one_delivery_make_one_event(stack: Stack) -> None:
    run_id = f"concurrent-{time.time_ns()}"
    body = _payload(stack, stack.watched, run_id)
    headers = _signed_headers(body)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: _post(stack, body, headers), range(8)))
    assert [r.status_code for r in answers] == [200] * 8
    assert sorted(r.json()["status"] for r in answers) == ["duplicate"] * 7 + ["recorded"]
    assert len({r.json()["asset_event_id"] for r in answers}) == 1
    assert len(stack.run_events(run_id)) == 1


def _tampered(stack: Stack, case: str) -> tuple[bytes, dict[str, str]]:
    body = _payload(stack, stack.watched, f"bad-{case}-{time.time_ns()}")
    headers = _signed_headers(body)
    if case == "forged":
        headers = _signed_headers(body, secret="not-the-secret")
    elif case == "stale":
        headers = _signed_headers(body, ts=int(time.time()) - 330)
    elif case == "future":
        headers = _signed_headers(body, ts=int(time.time()) + 330)
    elif case == "altered":
        body = body.replace(b'"success_requests":1', b'"success_requests":9')
    elif case == "no_signature":
        del headers["X-SP-Signature"]
    elif case == "no_timestamp":
        del headers["X-SP-Timestamp"]
    elif case == "malformed_signature":
        headers["X-SP-Signature"] = headers["X-SP-Signature"].removeprefix("sha256=")
    elif case == "signed_garbage":
        body = b'{"event": "run.completed"'
        headers = _signed_headers(body)
    return body, headers


@pytest.mark.parametrize(
    ("case", "code", "reason"),
    [
        ("forged", 401, "signature does not match"),
        ("altered", 401, "signature does not match"),
        ("stale", 401, "away from now (tolerance 300s)"),
        ("future", 401, "away from now (tolerance 300s)"),
        ("no_signature", 401, "Missing or malformed X-SP-Signature"),
        ("malformed_signature", 401, "Missing or malformed X-SP-Signature"),
        ("no_timestamp", 401, "Missing or non-integer X-SP-Timestamp"),
        ("signed_garbage", 422, "signed but is not a run event"),
    ],
)
def test_a_bad_delivery_is_refused_with_its_reason(stack: Stack, case: str, code: int, reason: str) -> None:
    before = stack.events()
    body, headers = _tampered(stack, case)
    resp = _post(stack, body, headers)
    assert (resp.status_code, resp.json()["status"]) == (code, "rejected"), resp.text
    assert reason in resp.json()["detail"]
    assert SECRET not in resp.text and TOKEN not in resp.text
    assert stack.events() == before


def test_a_10_mb_body_is_refused_413(stack: Stack) -> None:
    before = stack.events()
    body = b"x" * (10 * 1024 * 1024)
    resp = _post(stack, body, _signed_headers(body))
    assert resp.status_code == 413
    assert "body over 1048576 bytes" in resp.json()["detail"]
    assert stack.events() == before


def test_a_chunked_10_mb_body_is_refused_before_it_is_all_sent(stack: Stack) -> None:
    """No Content-Length: the receiver counts while it reads and answers 413 past 1 MiB, so the
    sender sees the answer long before its 10 MB are out (send() stops being accepted or fails)."""
    parts = urlsplit(stack.api_url)
    chunk = b"x" * 65536
    sent = 0
    head = (
        f"POST /scrapingpros/webhooks/sp_hooks HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        "X-SP-Timestamp: 1\r\nX-SP-Signature: sha256=" + "0" * 64 + "\r\n\r\n"
    ).encode()
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=10) as sock:
        sock.sendall(head)
        sock.settimeout(0.02)
        answer = b""
        while sent < 10 * 1024 * 1024:
            try:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break
            try:
                answer += sock.recv(65536)
            except (TimeoutError, BlockingIOError):
                continue
            if b"\r\n\r\n" in answer:
                break
        sock.settimeout(10)
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 4 * 1024 * 1024, f"{sent} bytes went out before the 413"


def test_a_real_delivery_for_an_unwatched_collection_is_404(stack: Stack, no_faults: None) -> None:
    before = stack.events()
    _, attempts = _real_run(stack, stack.unwatched)
    # a 4xx is final for the API: one attempt, callback_status failed
    assert [(a["attempt"], a["status"], a["outcome"]) for a in attempts] == [(1, 404, "failed")]
    assert stack.events() == before


@pytest.mark.parametrize("which", ["unwatched", "outlet_only"])
def test_unknown_collection_answers_why(stack: Stack, which: str) -> None:
    collection_id = getattr(stack, which)
    body = _payload(stack, collection_id, f"r-{time.time_ns()}")
    resp = _post(stack, body, _signed_headers(body))
    assert resp.status_code == 404, resp.text
    assert resp.json()["status"] == "no_watching_dag"
    assert resp.json()["detail"].startswith(f"no DAG watches collection {collection_id}")
    assert stack.events(collection_id) == []


@pytest.mark.parametrize(
    ("conn_id", "code", "status", "reason"),
    [
        ("sp_missing", 404, "unknown_connection", "no ScrapingPros connection 'sp_missing'"),
        ("sp_http", 404, "unknown_connection", "no ScrapingPros connection 'sp_http'"),
        ("sp_nosecret", 503, "not_configured", "has no `webhook_secret` extra"),
    ],
)
def test_connection_problems_say_what_to_configure(
    stack: Stack, conn_id: str, code: int, status: str, reason: str
) -> None:
    body = _payload(stack, stack.watched, f"r-{time.time_ns()}")
    resp = _post(stack, body, _signed_headers(body), conn_id=conn_id)
    assert (resp.status_code, resp.json()["status"]) == (code, status), resp.text
    assert reason in resp.json()["detail"]
    assert TOKEN not in resp.text and "'http'" not in resp.text  # no connection type is revealed


def test_auth_is_on_for_the_core_api_but_the_webhook_needs_none(stack: Stack) -> None:
    assert httpx.get(f"{stack.api_url}/api/v2/assets/events").status_code == 401
    assert httpx.get(f"{stack.api_url}/api/v2/connections/sp_hooks").status_code == 401
    run_id = f"noauth-{time.time_ns()}"
    body = _payload(stack, stack.watched, run_id)
    resp = _post(stack, body, _signed_headers(body))  # no Authorization header, no cookie
    assert (resp.status_code, resp.json()["status"]) == (200, "recorded"), resp.text
    assert len(stack.run_events(run_id)) == 1


def test_neither_secret_nor_token_reaches_the_server_log(stack: Stack) -> None:
    body, headers = _tampered(stack, "forged")
    assert _post(stack, body, headers).status_code == 401
    log = stack.log.read_text(errors="replace")
    assert "ScrapingPros webhook for 'sp_hooks': 401 rejected" in log  # the log is the right one
    assert SECRET not in log and TOKEN not in log


def test_fixture_start_time(stack: Stack) -> None:
    # sandbox + collections + db migrate + dags reserialize + api-server up
    print(f"\nAPI-server fixture started in {stack.start_s:.1f}s")
    assert stack.start_s < 120
