"""The HTTP front (sandbox/server.py) at the level of raw HTTP: request bodies in either framing, a
JSON answer for every method and path, and only `/v1` requests in the request log."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

from airflow_provider_scrapingpros.sandbox.control import SandboxControl

from .helpers import COLLECTIONS, R_COLLECTIONS, TOKEN


def _connection(sp: SandboxControl) -> http.client.HTTPConnection:
    parts = urlsplit(sp.base_url)
    return http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)


def test_a_chunked_request_body_is_read_like_a_sized_one(sp: SandboxControl) -> None:
    body = json.dumps({"name": "chunked", "requests": [{"url": "https://example.com/c"}]}).encode()
    connection = _connection(sp)
    try:
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        pieces = iter([body[:10], body[10:]])
        connection.request("POST", COLLECTIONS, body=pieces, headers=headers, encode_chunked=True)
        answer = connection.getresponse()
        created = json.loads(answer.read())
    finally:
        connection.close()
    assert answer.status == 201
    assert (created["name"], created["invalid_items"], created["blocked_urls"]) == ("chunked", [], [])
    assert sp.count(R_COLLECTIONS, status=201) == 1


def test_a_malformed_content_length_is_a_400_that_closes_the_connection(sp: SandboxControl) -> None:
    connection = _connection(sp)
    try:
        connection.putrequest("POST", COLLECTIONS)
        connection.putheader("Content-Length", "ten")
        connection.endheaders()
        answer = connection.getresponse()
        detail = json.loads(answer.read())
    finally:
        connection.close()
    assert answer.status == 400
    assert detail == {"detail": "Malformed Content-Length or chunked body"}
    assert answer.getheader("Connection") == "close"


def test_every_method_and_path_gets_a_json_answer_and_only_v1_is_logged(sp: SandboxControl) -> None:
    connection = _connection(sp)
    seen: dict[str, tuple[int, str | None, bytes]] = {}
    try:
        for method, path in (("GET", "/nope"), ("PATCH", "/v1/health"), ("HEAD", "/v1/health")):
            connection.request(method, path)
            answer = connection.getresponse()
            seen[f"{method} {path}"] = (answer.status, answer.getheader("Content-Type"), answer.read())
    finally:
        connection.close()
    assert seen["GET /nope"] == (404, "application/json", b'{"detail":"Not Found"}')
    assert seen["PATCH /v1/health"] == (405, "application/json", b'{"detail":"Method Not Allowed"}')
    assert seen["HEAD /v1/health"] == (405, "application/json", b"")  # HEAD: headers only
    assert [(r["method"], r["path"], r["status"]) for r in sp.requests()] == [
        ("PATCH", "/v1/health", 405),
        ("HEAD", "/v1/health", 405),
    ]
