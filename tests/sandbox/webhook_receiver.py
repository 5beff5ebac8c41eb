"""A tiny webhook receiver for the tests: stdlib ThreadingHTTPServer on 127.0.0.1, port 0.

It records every delivery byte for byte (signatures cover the raw body, so nothing is parsed here)
and answers a configurable status. `on_delivery` runs inside the request, before the answer, which
lets a test observe the API *while* the sandbox is delivering (the terminal status must already
be visible to GETs).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


@dataclass(frozen=True)
class Delivery:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    received_at: float  # time.monotonic()


class WebhookReceiver:
    def __init__(self, status: int = 200, on_delivery: Callable[[Delivery], None] | None = None) -> None:
        self.status = status
        self.on_delivery = on_delivery
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def snapshot(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)

    def wait(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        """Wait until at least `count` deliveries arrived; returns all of them."""
        deadline = time.monotonic() + timeout
        while len(got := self.snapshot()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} webhook deliveries, got {len(got)} in {timeout}s")
            time.sleep(0.01)
        return got

    def _record(self, delivery: Delivery) -> int:
        if self.on_delivery is not None:
            self.on_delivery(delivery)
        with self._lock:
            self.deliveries.append(delivery)
        return self.status

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver._record(Delivery("POST", self.path, headers, body, time.monotonic()))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
                pass

        return Handler
