"""Shared plumbing of the `/v1` API: replies, errors, routes, authentication and rate limiting.

Error bodies are always `{"detail": ...}` (docs/api-notes.md#wire-conventions), never a top-level
`message`. Handlers raise `ApiError` and never see authentication or rate limiting: `Api.dispatch`
resolves the token, counts the request in the token's window and adds the rate-limit and quota
headers (docs/api-notes.md#rate-limits-quota-and-credits) to whatever the handler answers.
Routes are matched segment by segment against templates; the template string is also the request
log's `route` and the fault matcher's subject.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic_core import to_json

from .accounts import Account
from .ratelimit import RateLimiter, quota_headers
from .state import SandboxEngine


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def encode_json(obj: Any) -> bytes:
    # pydantic-core's encoder (Rust): a jobs page with inline HTML serialises in half the time of
    # `json.dumps`, which was 40% of serving it. Same output: compact, UTF-8, keys in order.
    return to_json(obj)


def reply(status: int, obj: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, encode_json(obj), headers or {})


class ApiError(Exception):
    def __init__(self, status: int, detail: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}

    def reply(self) -> Reply:
        return reply(self.status, {"detail": self.detail}, self.headers)


def unprocessable(where: str, name: str, msg: str, kind: str = "value_error") -> ApiError:
    """A FastAPI-style 422 naming one field: `{"detail": [{"loc": [where, name], "msg", "type"}]}`."""
    loc = [where, name] if name else [where]
    return ApiError(422, [{"loc": loc, "msg": msg, "type": kind}])


class Headers(Protocol):
    """What handlers need of request headers (`http.client.HTTPMessage` or a dict)."""

    def get(self, name: str, /) -> str | None: ...


@dataclass
class Ctx:
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: bytes
    headers: Headers
    account: Account | None = None

    @property
    def me(self) -> Account:
        assert self.account is not None, "authenticated route without an account"
        return self.account

    def json(self) -> Any:
        """The parsed body; 422 naming `body` if it is missing or not JSON."""
        if not self.body.strip():
            raise unprocessable("body", "", "Field required", "missing")
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise unprocessable("body", "", f"JSON decode error: {exc}", "json_invalid") from None


RouteHandler = Callable[[Ctx], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: RouteHandler
    public: bool = False

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"


class Router:
    def __init__(self, routes: list[Route]) -> None:
        self._routes = [(r, r.template.strip("/").split("/")) for r in routes]

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, path params, path known under another method)."""
        segments = path.strip("/").split("/")
        other_method = False
        for route, pattern in self._routes:
            if len(pattern) != len(segments):
                continue
            params: dict[str, str] = {}
            for want, got in zip(pattern, segments, strict=True):
                if want.startswith("{"):
                    if not got:
                        break
                    params[want[1:-1]] = got
                elif want != got:
                    break
            else:
                if route.method == method:
                    return route, params, False
                other_method = True
        return None, {}, other_method


def bearer(headers: Headers) -> str | None:
    raw = headers.get("Authorization") or ""
    scheme, _, token = raw.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class Api:
    """Dispatch to a route's handler with authentication, rate limiting and the quota headers."""

    def __init__(self, engine: SandboxEngine, limiter: RateLimiter) -> None:
        self.engine = engine
        self.limiter = limiter

    def dispatch(self, route: Route, ctx: Ctx) -> Reply:
        if route.public:
            return self._call(route, ctx)
        token = bearer(ctx.headers)
        if token is None:
            return ApiError(401, "Missing API token: send 'Authorization: Bearer <token>'.").reply()
        engine = self.engine
        with engine.lock:
            account = engine.accounts.get(token)
            if account is None:
                return ApiError(
                    401, "Invalid API token. Check the token or use the sandbox dev token."
                ).reply()
            allowed, headers = self.limiter.hit(account, engine.clock.now())
        if not allowed:
            detail = f"Rate limit exceeded: {account.requests_per_minute} requests per minute"
            return ApiError(429, detail, headers).reply()
        ctx.account = account
        answer = self._call(route, ctx)
        with engine.lock:
            headers.update(quota_headers(account, engine.clock.now()))
        answer.headers = {**headers, **answer.headers}
        return answer

    @staticmethod
    def _call(route: Route, ctx: Ctx) -> Reply:
        try:
            return route.handler(ctx)
        except ApiError as exc:
            return exc.reply()
