"""A loopback proxy in front of the sandbox that rewrites chosen jobs pages.

The sandbox always lists correctly, so a listing that repeats, skips, reorders or never ends is
made here: every request is forwarded as is over HTTP, and the JSON of each `GET …/jobs` answer
(not `/result`) passes through `rewrite(page_number, page)` before it reaches the client.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

Rewrite = Callable[[int, dict[str, Any]], dict[str, Any]]
_JOBS_PAGE = re.compile(r"^/v1/async/collections/[^/]+/runs/[^/]+/jobs(\?|$)")
_PASSED_HEADERS = ("content-type", "retry-after", "date", "idempotency-replayed")


class ListingProxy:
    def __init__(self, upstream: str, rewrite: Rewrite) -> None:
        self.upstream = upstream.rstrip("/")
        self.rewrite = rewrite
        self.pages = 0  # jobs pages served
        self._lock = threading.Lock()
        self._session = requests.Session()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
                }
                answer = proxy._session.request(
                    self.command, proxy.upstream + self.path, headers=headers, data=body, timeout=60
                )
                data = answer.content
                if self.command == "GET" and _JOBS_PAGE.match(self.path) and answer.status_code == 200:
                    with proxy._lock:
                        proxy.pages += 1
                        number = proxy.pages
                    data = json.dumps(proxy.rewrite(number, answer.json())).encode()
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() in _PASSED_HEADERS:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        return Handler

    def start(self) -> ListingProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._session.close()


@contextmanager
def listing_proxy(upstream: str, rewrite: Rewrite) -> Iterator[ListingProxy]:
    proxy = ListingProxy(upstream, rewrite).start()
    try:
        yield proxy
    finally:
        proxy.stop()
