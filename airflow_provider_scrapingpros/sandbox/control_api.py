"""`/_sandbox/` control routes; their shapes are in docs/sandbox.md#controls.

These routes need no token and are never rate-limited, faulted, charged or logged. Bad input is a
422 `{"detail": "<field>: <problem>"}`. `POST /_sandbox/clock/advance` returns only after
everything due up to the new time has happened, webhook attempts included, in time order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from .accounts import mask
from .api import ApiError, Ctx, Reply, Route, reply
from .faults import Faults, parse_profile
from .outcomes import parse_rules
from .requestlog import RequestLog
from .state import SandboxEngine
from .webhooks import WebhookPump

P = "/_sandbox"


def _object(ctx: Ctx) -> dict[str, Any]:
    body = ctx.json() if ctx.body.strip() else {}
    if not isinstance(body, dict):
        raise ApiError(422, "body: expected a JSON object")
    return body


def _rejected(exc: ValueError) -> ApiError:
    return ApiError(422, str(exc))


class ControlApi:
    def __init__(
        self,
        engine: SandboxEngine,
        faults: Faults,
        log: RequestLog,
        pump: WebhookPump,
        reset: Callable[[], None],
        public_config: Callable[[], dict[str, Any]],
    ) -> None:
        self.engine = engine
        self.faults = faults
        self.log = log
        self.pump = pump
        self._reset = reset
        self._public_config = public_config

    def routes(self) -> list[Route]:
        return [
            Route("POST", P + "/reset", self.reset),
            Route("GET", P + "/config", lambda ctx: reply(200, self._public_config())),
            Route("GET", P + "/clock", self.clock),
            Route("POST", P + "/clock/advance", self.advance),
            Route("POST", P + "/clock/freeze", self.freeze),
            Route("POST", P + "/clock/resume", self.resume),
            Route("GET", P + "/faults", self.get_faults),
            Route("PUT", P + "/faults", self.put_faults),
            Route("POST", P + "/faults/script", self.script_fault),
            Route("GET", P + "/rules", self.get_rules),
            Route("PUT", P + "/rules", self.put_rules),
            Route("DELETE", P + "/rules", self.delete_rules),
            Route("GET", P + "/tokens/{token}", self.get_token),
            Route("PUT", P + "/tokens/{token}", self.put_token),
            Route("GET", P + "/requests", self.requests),
            Route("DELETE", P + "/requests", self.clear_requests),
            Route("GET", P + "/requests/counts", lambda ctx: reply(200, self.log.counts())),
            Route("GET", P + "/webhooks", lambda ctx: reply(200, {"items": self.pump.attempts()})),
            Route("GET", P + "/stats", self.stats),
        ]

    def reset(self, ctx: Ctx) -> Reply:
        self._reset()
        return reply(200, {"status": "reset"})

    # ------------------------------------------------------------------------------ clock

    def clock(self, ctx: Ctx) -> Reply:
        return reply(200, self.engine.clock.snapshot())

    def advance(self, ctx: Ctx) -> Reply:
        seconds = _object(ctx).get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise ApiError(422, "seconds: required number >= 0 (the sandbox clock only moves forward)")
        clock = self.engine.clock
        target = clock.now() + float(seconds)
        self.pump.run_due(target, move_clock=True)
        clock.move_to(target)
        with self.engine.lock:
            self.engine.process_until(clock.now())
        return reply(200, clock.snapshot())

    def freeze(self, ctx: Ctx) -> Reply:
        self.engine.clock.freeze()
        return reply(200, self.engine.clock.snapshot())

    def resume(self, ctx: Ctx) -> Reply:
        self.engine.clock.resume()
        return reply(200, self.engine.clock.snapshot())

    # ------------------------------------------------------------------------------ faults, rules

    def get_faults(self, ctx: Ctx) -> Reply:
        return reply(200, {**self.faults.profile.to_json(), "scripted": self.faults.scripted()})

    def put_faults(self, ctx: Ctx) -> Reply:
        try:
            self.faults.set(parse_profile(_object(ctx), self.engine.config.seed))
        except ValueError as exc:
            raise _rejected(exc) from None
        return self.get_faults(ctx)

    def script_fault(self, ctx: Ctx) -> Reply:
        body = _object(ctx)
        match, fault, count = body.get("match"), body.get("fault"), body.get("count", 1)
        if not isinstance(match, str) or not isinstance(fault, str):
            raise ApiError(422, "match, fault: required strings (a route glob and a fault name)")
        if isinstance(count, bool) or not isinstance(count, int):
            raise ApiError(422, "count: must be an integer >= 1")
        try:
            self.faults.script(match, fault, count)
        except ValueError as exc:
            raise _rejected(exc) from None
        return self.get_faults(ctx)

    def get_rules(self, ctx: Ctx) -> Reply:
        return reply(200, {"rules": [rule.to_json() for rule in self.engine.rules]})

    def put_rules(self, ctx: Ctx) -> Reply:
        raw = ctx.json()
        try:
            rules = parse_rules(raw.get("rules") if isinstance(raw, dict) else raw)
        except ValueError as exc:
            raise _rejected(exc) from None
        self.engine.rules = rules  # one reference swap: readers see the old or the new list whole
        return self.get_rules(ctx)

    def delete_rules(self, ctx: Ctx) -> Reply:
        self.engine.rules = []
        return self.get_rules(ctx)

    # ------------------------------------------------------------------------------ tokens

    def get_token(self, ctx: Ctx) -> Reply:
        with self.engine.lock:
            account = self.engine.accounts.known(unquote(ctx.params["token"]))
            if account is None:
                raise ApiError(404, "Unknown token; create it with PUT /_sandbox/tokens/{token}")
            account.roll(self.engine.clock.now())
            return reply(200, account.to_json())

    def put_token(self, ctx: Ctx) -> Reply:
        token = unquote(ctx.params["token"])
        settings = _object(ctx)
        with self.engine.lock:
            now = self.engine.clock.now()
            self.engine.process_until(now)
            try:
                account = self.engine.accounts.put(token, settings)
            except ValueError as exc:
                raise _rejected(exc) from None
            account.roll(now)
            self.engine.reschedule_token(token, now)
            return reply(200, account.to_json())

    # ------------------------------------------------------------------------------ log, stats

    def requests(self, ctx: Ctx) -> Reply:
        since = ctx.query.get("since_seq")
        try:
            since_seq = int(since) if since else None
        except ValueError:
            raise ApiError(422, "since_seq: must be an integer") from None
        return reply(200, {"items": self.log.items(ctx.query.get("route") or None, since_seq)})

    def clear_requests(self, ctx: Ctx) -> Reply:
        self.log.clear()
        return reply(200, {"status": "cleared"})

    def stats(self, ctx: Ctx) -> Reply:
        with self.engine.lock:
            self.engine.process_until(self.engine.clock.now())
            return reply(200, self.engine.stats(mask))
