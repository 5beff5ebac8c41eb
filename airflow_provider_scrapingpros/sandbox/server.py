"""The HTTP front: a stdlib `ThreadingHTTPServer` speaking keep-alive HTTP/1.1.

No framework on purpose: faults need raw control of the connection (close it before processing,
or after the request was applied but before any byte of the answer). Each response goes out in one
`sendall` (status line, headers and body together) with TCP_NODELAY, so keep-alive clients never
hit the Nagle / delayed-ACK stall that a separate header write causes.

With a link cap (`link_mbps`, docs/sandbox.md#link-model) a `/v1` body goes out in chunks instead,
each written only once the link would have carried every byte up to its end, so a body of B bytes
takes B*8/(link_mbps*1e6) s on its connection. The first chunk still travels in the write of the
headers. Pacing sleeps in the connection's own handler thread holding no lock, so the cap is per
connection: N connections get N times the throughput, as N TCP streams over a WAN would.

The front decides in this order for `/v1`: route → fault (drop / 5xx / 429 / latency) → dispatch
(auth, rate limit, handler) → post-commit fault (lost response, or 502) → request log → answer
(paced under a link cap). `/_sandbox/` skips faults, the log and the link cap. Any unexpected
exception is logged with its traceback and answered 400 naming the exception: the sandbox never
answers 5xx unless a fault profile asks for it.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from .accounts import mask
from .api import Api, ApiError, Ctx, Reply, Route, Router, bearer, reply
from .clock import Clock
from .faults import NO_FAULT, FaultDecision, Faults
from .requestlog import RequestLog

log = logging.getLogger("airflow_provider_scrapingpros.sandbox")
_REASONS = {s.value: s.phrase for s in HTTPStatus}
# A paced chunk carries about this much link time: short enough that a slow link delivers steadily
# (clients with per-read timeouts see progress) instead of in half-second bursts...
_CHUNK_S = 0.05
# ...within bounds: tiny chunks would spend more on syscalls and sleeps than the link model is
# worth, and 64 KB is already 5 ms of a 100 Mbit/s link.
_MIN_CHUNK = 4096
_MAX_CHUNK = 65536


def _chunk_size(bytes_per_s: float) -> int:
    return max(_MIN_CHUNK, min(_MAX_CHUNK, int(bytes_per_s * _CHUNK_S)))


class Front:
    """Everything a connection handler needs, shared by all handler threads."""

    def __init__(
        self, api: Api, v1: list[Route], control: list[Route], faults: Faults, log_: RequestLog, clock: Clock
    ) -> None:
        self.api = api
        self.v1 = Router(v1)
        self.control = Router(control)
        self.faults = faults
        self.log = log_
        self.clock = clock


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SandboxHTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        return  # the request log is the record; stderr lines per request would only cost time

    def do_GET(self) -> None:
        self._handle()

    # Every method goes through routing, so HEAD/OPTIONS get a JSON 405, not the stdlib's 501 page.
    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    # ------------------------------------------------------------------------------ plumbing

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, answer: Reply, link_mbps: float | None = None) -> None:
        head = [f"HTTP/1.1 {answer.status} {_REASONS.get(answer.status, '')}"]
        head.append("Content-Type: application/json")
        head.append(f"Content-Length: {len(answer.body)}")
        head.extend(f"{k}: {v}" for k, v in answer.headers.items())
        if self.close_connection:
            head.append("Connection: close")
        head_bytes = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        body = b"" if self.command == "HEAD" else answer.body
        try:
            if link_mbps is None:
                self.wfile.write(head_bytes + body)
            else:
                self._send_paced(head_bytes, body, link_mbps * 1e6 / 8)
        except OSError:  # the client went away; nothing to answer to
            self.close_connection = True

    def _send_paced(self, head: bytes, body: bytes, bytes_per_s: float) -> None:
        """Deadlines are cumulative from the first write, so time lost to a late wake-up or a slow
        `sendall` is caught up by skipping sleeps, never added to the total; and the bytes handed
        to the socket never run ahead of the link. Headers are not counted: they are the same few
        hundred bytes on every answer and would only blur the B*8/rate the docs promise."""
        chunk = _chunk_size(bytes_per_s)
        view = memoryview(body)
        start = time.perf_counter()
        sent = 0
        while True:
            piece = view[sent : sent + chunk]
            sent += len(piece)
            wait = start + sent / bytes_per_s - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            self.wfile.write(head + piece if head else piece)
            head = b""
            if sent >= len(body):
                return

    def _drop(self) -> None:
        """Close without a byte of response: the client sees a dropped connection."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # ------------------------------------------------------------------------------ requests

    def _handle(self) -> None:
        front = self.server.front
        started, sandbox_time = time.perf_counter(), front.clock.now()
        path, _, query = self.path.partition("?")
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self._send(reply(400, {"detail": "Malformed Content-Length or chunked body"}))
            return
        ctx = Ctx(self.command, path, {}, dict(parse_qsl(query, keep_blank_values=True)), body, self.headers)
        if path.startswith("/_sandbox/"):
            self._send(self._guarded(lambda: self._control(ctx)))
            return
        if not (path == "/v1" or path.startswith("/v1/")):
            self._send(reply(404, {"detail": "Not Found"}))
            return
        route, ctx.params, other_method = front.v1.match(self.command, path)
        name = route.name if route else f"{self.command} {path}"
        decision = front.faults.decide(name) if route else NO_FAULT
        if decision.delay_s:
            time.sleep(decision.delay_s)
        answer = self._v1_answer(
            decision, lambda: front.api.dispatch(route, ctx) if route else _unrouted(other_method)
        )
        # Logged before the answer leaves: a client reading the log right after its call must see it.
        token = bearer(self.headers)
        front.log.record(
            {
                "sandbox_time": sandbox_time,
                "wall_time": time.time(),
                "method": self.command,
                "route": name,
                "path": path,
                "query": query,
                "status": None if answer is None else answer.status,
                "token": None if token is None else mask(token),
                "idempotency_key": self.headers.get("Idempotency-Key"),
                "fault": decision.fault,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            }
        )
        if answer is None:
            self._drop()
        else:
            self._send(answer, front.faults.link_mbps)

    def _v1_answer(self, decision: FaultDecision, dispatch: Callable[[], Reply]) -> Reply | None:
        """The answer a faulted or normal request gets; None = close the connection without one."""
        fault = decision.fault
        if fault == "drop":
            return None
        if fault == "error_5xx":
            return reply(decision.status or 500, {"detail": "Server error (sandbox fault)"})
        if fault == "rate_429":
            headers = {"Retry-After": str(decision.retry_after)}
            return reply(429, {"detail": "Too many requests, retry later"}, headers)
        answer = self._guarded(dispatch)  # applied in full, also when the answer is then lost
        if fault == "lost_after_commit":
            return None
        if fault == "lost_after_commit_5xx":
            return reply(502, {"detail": "Bad gateway (sandbox fault after commit)"})
        return answer

    def _control(self, ctx: Ctx) -> Reply:
        route, ctx.params, other_method = self.server.front.control.match(ctx.method, ctx.path)
        if route is None:
            return _unrouted(other_method)
        try:
            return route.handler(ctx)
        except ApiError as exc:
            return exc.reply()

    def _guarded(self, produce: Callable[[], Reply]) -> Reply:
        try:
            return produce()
        except Exception as exc:  # the never-5xx rule: log it, answer 400 naming the problem
            log.exception("sandbox could not handle %s %s", self.command, self.path.partition("?")[0])
            detail = f"The sandbox could not handle this request ({type(exc).__name__}: {exc}); see its log."
            return reply(400, {"detail": detail})


def _unrouted(other_method: bool) -> Reply:
    if other_method:
        return reply(405, {"detail": "Method Not Allowed"})
    return reply(404, {"detail": "Not Found"})


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # The stdlib default backlog of 5 drops connections when hundreds of triggers poll at once.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], front: Front) -> None:
        self.front = front
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Idle keep-alive connections would keep handler threads blocked in readline forever."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
