"""`Sandbox`: wires the parts together and runs them (server thread + webhook ticker thread).

The ticker wakes every 50 ms, or at once when the engine queues a webhook, and lets the pump
process what is due on the real clock; requests never deliver webhooks themselves. `reset()` swaps
all state atomically under the engine lock; a webhook attempt in flight during a reset is recorded
nowhere (its delivery belongs to an older engine generation).
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Any

from .accounts import Accounts, load_token_table
from .api import Api
from .api_async import AsyncApi
from .api_sync import SyncApi
from .clock import Clock
from .config import SandboxConfig
from .control import SandboxControl
from .control_api import ControlApi
from .faults import Faults, load_profile
from .ratelimit import RateLimiter
from .requestlog import RequestLog
from .server import Front, SandboxHTTPServer
from .state import SandboxEngine
from .webhooks import WebhookPump

log = logging.getLogger("airflow_provider_scrapingpros.sandbox")
TICK_S = 0.05


class Sandbox:
    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        cfg = self.config
        self.clock = Clock(cfg.clock)
        self.accounts = Accounts(load_token_table(cfg.tokens), cfg.accept_any_token)
        self.faults = Faults(load_profile(cfg.fault_profile, cfg.seed), cfg.link_mbps)
        self.engine = SandboxEngine(cfg, self.clock, self.accounts, self.faults)
        self.limiter = RateLimiter()
        self.log = RequestLog()
        self.pump = WebhookPump(self.engine, self.clock, cfg)
        v1 = AsyncApi(self.engine, cfg).routes() + SyncApi(self.engine).routes()
        control = ControlApi(self.engine, self.faults, self.log, self.pump, self.reset, self.public_config)
        self._front = Front(
            Api(self.engine, self.limiter), v1, control.routes(), self.faults, self.log, self.clock
        )
        self._server: SandboxHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self.base_url = ""
        self._control: SandboxControl | None = None

    @property
    def control(self) -> SandboxControl:
        if self._control is None:
            raise RuntimeError("the sandbox is not started: call start() first")
        return self._control

    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        cfg = self.config
        self._server = SandboxHTTPServer((cfg.host, cfg.port), self._front)
        port = self._server.server_address[1]
        host = "127.0.0.1" if cfg.host in ("", "0.0.0.0") else cfg.host
        host = "[::1]" if host == "::" else (f"[{host}]" if ":" in host else host)
        self.base_url = f"http://{host}:{port}"
        self.engine.public_base_url = (cfg.public_base_url or self.base_url).rstrip("/")
        self._control = SandboxControl(self.base_url)
        self._stopping.clear()
        self._threads = [
            # a short poll keeps stop() fast: tests start and stop many sandboxes
            threading.Thread(
                target=self._server.serve_forever, args=(0.05,), name="sp-sandbox-http", daemon=True
            ),
            threading.Thread(target=self._tick, name="sp-sandbox-ticker", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        self.engine.deliveries.ready.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        for thread in self._threads:
            thread.join(timeout=self.config.webhook_timeout + 1)
        if self._control is not None:
            self._control.close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Block until `request_stop()` or Ctrl-C (the CLI)."""
        self.start()
        try:
            while not self._stopping.wait(0.5):  # a timed wait keeps Ctrl-C responsive
                pass
        finally:
            self.stop()

    def request_stop(self) -> None:
        """Make `serve_forever` return; safe from a signal handler."""
        self._stopping.set()

    def reset(self) -> None:
        """State, credits, windows, logs, pending webhooks, rules, scripted faults; clock to wall
        (docs/sandbox.md#s6-reset)."""
        with self.engine.lock:
            self.engine.clear()
            self.accounts.reset()
            self.faults.reset()
            self.limiter.reset()
            self.log.clear()
            self.pump.clear()
            self.clock.reset()

    def public_config(self) -> dict[str, Any]:
        bound = self._server.server_address[1] if self._server is not None else self.config.port
        return {**self.config.model_dump(), "port": bound, "public_base_url": self.engine.public_base_url}

    def _tick(self) -> None:
        ready = self.engine.deliveries.ready
        while not self._stopping.is_set():
            ready.wait(TICK_S)
            ready.clear()
            if self._stopping.is_set():
                return
            try:
                self.pump.run_due(self.clock.now(), move_clock=False)
            except Exception:  # a ticker that dies silently would stop every webhook
                log.exception("sandbox webhook ticker failed; continuing")
