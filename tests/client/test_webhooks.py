"""Webhook signatures (docs/api-notes.md#webhooks): sign/verify as pure functions, then a real
delivery from the sandbox to a receiver on loopback, verified with the hook's connection secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from airflow_provider_scrapingpros.client.webhooks import WebhookVerificationError, sign, verify

SECRET = "sp_sandbox_dev_secret"
NOW = 1_800_000_000
PAYLOAD = {
    "event": "run.completed",
    "run_id": "r1",
    "collection_id": "c1",
    "status": "completed",
    "total_requests": 2,
    "success_requests": 1,
    "failed_requests": 1,
    "job_ids": ["j1", "j2"],
    "results_url": "http://127.0.0.1:8000/v1/async/collections/c1/runs/r1",
    "timestamp": "2027-01-15T08:00:00Z",
}
BODY = json.dumps(PAYLOAD).encode()


def test_signature_is_hmac_sha256_over_timestamp_dot_raw_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, NOW, BODY) == f"sha256={expected}"


def test_verify_accepts_a_good_delivery_and_parses_it() -> None:
    event = verify(SECRET, BODY, sign(SECRET, NOW, BODY), str(NOW), now=NOW + 299)
    assert (event.event, event.run_id, event.status, event.job_ids) == (
        "run.completed",
        "r1",
        "completed",
        ["j1", "j2"],
    )
    upper = "sha256=" + sign(SECRET, NOW, BODY).removeprefix("sha256=").upper()
    assert verify(SECRET, BODY, upper, str(NOW), now=NOW).success_requests == 1


@pytest.mark.parametrize(
    ("body", "signature", "timestamp", "now", "message"),
    [
        (BODY + b" ", None, str(NOW), NOW, "does not match"),  # signature filled in below
        (BODY, "sha256=" + "0" * 64, str(NOW), NOW, "does not match"),
        (BODY, None, str(NOW), NOW + 301, "301s away from now (tolerance 300s)"),
        (BODY, None, str(NOW), NOW - 301, "301s away from now"),
        (BODY, "", str(NOW), NOW, "Missing or malformed X-SP-Signature"),
        (BODY, "md5=abc", str(NOW), NOW, "Missing or malformed X-SP-Signature"),
        (BODY, None, "yesterday", NOW, "non-integer X-SP-Timestamp"),
        (BODY, None, None, NOW, "non-integer X-SP-Timestamp"),
    ],
)
def test_verify_rejects(
    body: bytes, signature: str | None, timestamp: str | None, now: int, message: str
) -> None:
    if signature is None:
        signature = sign(SECRET, NOW, BODY)  # signed over the original body and timestamp
    with pytest.raises(WebhookVerificationError, match=re.escape(message)):
        verify(SECRET, body, signature, timestamp, now=now)


def test_wrong_secret_is_rejected_with_a_hint() -> None:
    with pytest.raises(WebhookVerificationError, match="check the webhook secret in the connection"):
        verify("other", BODY, sign(SECRET, NOW, BODY), str(NOW), now=NOW)


# ------------------------------------------------------------------------------ real delivery


class _Receiver(BaseHTTPRequestHandler):
    deliveries: list[tuple[bytes, dict[str, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.deliveries.append((body, {k.lower(): v for k, v in self.headers.items()}))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[bytes, dict[str, str]]]]]:
    deliveries: list[tuple[bytes, dict[str, str]]] = []
    handler = type("Handler", (_Receiver,), {"deliveries": deliveries})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", deliveries
    finally:
        server.shutdown()
        server.server_close()


def test_sandbox_delivery_verifies_with_the_connection_secret(
    sp: Any, receiver: tuple[str, list[tuple[bytes, dict[str, str]]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_scrapingpros.client.webhooks import WebhookVerificationError as VerifyError
    from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook

    url, deliveries = receiver
    conn = {"conn_type": "scrapingpros", "host": sp.base_url, "password": "sp_sandbox_dev"}
    conn["extra"] = {"webhook_secret": SECRET}  # type: ignore[assignment]
    monkeypatch.setenv("AIRFLOW_CONN_SCRAPINGPROS_DEFAULT", json.dumps(conn))
    hook = ScrapingProsHook()
    created = hook.create_collection("webhook-test", [{"url": "https://example.com/a"}], callback_url=url)
    run = hook.create_run(created.id)
    deadline = time.monotonic() + 10
    while not deliveries and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(deliveries) == 1
    body, headers = deliveries[0]
    now = sp.clock()["epoch"]
    event = hook.verify_webhook(body, headers.get("x-sp-signature"), headers.get("x-sp-timestamp"), now=now)
    assert (event.run_id, event.collection_id, event.status, event.total_requests) == (
        run.run_id,
        created.id,
        "completed",
        1,
    )
    assert event.results_url == hook.run_url(created.id, run.run_id)
    with pytest.raises(VerifyError, match="does not match"):
        hook.verify_webhook(body + b"x", headers["x-sp-signature"], headers["x-sp-timestamp"], now=now)


@pytest.mark.parametrize(
    ("signature", "body"),
    [
        ("sha256=\u00e9" + "0" * 63, BODY),  # non-ASCII header: compare_digest would raise TypeError
        ("sha256=" + "ab" * 32 + "\u2603", BODY),
        (None, b'{"event": "run.completed"}'),  # correctly signed, but not a run.completed payload
        (None, b"not json"),
    ],
)
def test_malformed_deliveries_are_verification_errors(signature: str | None, body: bytes) -> None:
    header = signature if signature is not None else sign(SECRET, NOW, body)
    with pytest.raises(WebhookVerificationError) as err:
        verify(SECRET, body, header, str(NOW), now=NOW)
    assert SECRET not in str(err.value)
