"""POST /v1/sync/scrape, the public routes and the optional endpoints
(docs/api-notes.md#request-fields-and-sync-scrape, docs/api-notes.md#endpoints).

A sync scrape answers 200 even when the simulated target fails (`guidance.success: false`); 4xx is
only for request-level problems. It takes one of the token's concurrency slots for its duration
(429 with `Retry-After: 1` if none is free). On the real clock it sleeps the scaled latency outside
the engine lock, so a slow scrape never blocks other requests; on the manual clock it returns at
once and only reports the simulated time in `executionTime`.
"""

from __future__ import annotations

import time

from ..client.cost import credit_cost
from ..client.models import ProxyConfig, ScrapeRequest
from . import urls
from .accounts import PLANS, Account
from .api import ApiError, Ctx, Reply, Route, reply, unprocessable
from .outcomes import TargetOutcome, outcome_for
from .results import PageSizes, guidance, scrape_response
from .state import SandboxEngine
from .validation import fastapi_detail, validate_scrape

OPTIONAL_ROUTES = (
    ("POST", "/v1/sync/download"),
    ("POST", "/v1/async/viability-test"),
    ("GET", "/v1/async/viability-test/{run_id}"),
    ("GET", "/v1/proxy/countries"),
    ("POST", "/v1/proxy/request-country"),
    ("GET", "/v1/proxy/status"),
    ("GET", "/v1/sync/billing"),
    ("GET", "/v1/sync/metrics"),
    ("GET", "/v1/sync/client-metrics"),
)


def _not_emulated(ctx: Ctx) -> Reply:
    raise ApiError(404, "Not emulated by the sandbox")


def _health(ctx: Ctx) -> Reply:
    return reply(200, {"status": "ok"})


def _plans(ctx: Ctx) -> Reply:
    plans = [
        {
            "name": p.name,
            "display_name": p.display_name,
            "credits_monthly": p.credits_monthly,
            "max_concurrent_jobs": p.max_concurrent_jobs,
            "requests_per_minute": p.requests_per_minute,
        }
        for p in PLANS.values()
    ]
    return reply(200, {"plans": plans})


class SyncApi:
    def __init__(self, engine: SandboxEngine) -> None:
        self.engine = engine
        self.sizes = PageSizes.from_config(engine.config)

    def routes(self) -> list[Route]:
        optional = [Route(m, t, _not_emulated, public=True) for m, t in OPTIONAL_ROUTES]
        return [
            Route("POST", "/v1/sync/scrape", self.scrape),
            Route("GET", "/v1/health", _health, public=True),
            Route("GET", "/v1/plans", _plans, public=True),
            *optional,
        ]

    def scrape(self, ctx: Ctx) -> Reply:
        request = _scrape_request(ctx)
        engine, account = self.engine, ctx.me
        url, outcome = self._target(request, account)
        cost = credit_cost(request)
        end = engine.settlement(outcome, request)
        self._take_slot(account, cost)
        charged = cost if end.is_success else 0
        try:
            if engine.clock.mode == "real" and not engine.clock.frozen:
                time.sleep(end.duration)
        finally:
            with engine.lock:
                now = engine.clock.now()
                engine.process_until(now)
                engine.release_slot(account.token, now)
                account.charge(charged, now)
        response = scrape_response(
            url=url, custom_id=request.custom_id, request=request, outcome=outcome, end=end,
            guidance=guidance(end, charged), sizes=self.sizes,
        )  # fmt: skip
        return reply(200, response, {"X-Credits-Charged": str(charged)})

    def _target(self, request: ScrapeRequest, account: Account) -> tuple[str, TargetOutcome]:
        """The normalised URL and what fetching it does; 422 if it may not be scraped, 403 if the
        account may not use the requested country proxy."""
        url = urls.normalise(request.url)
        outcome = outcome_for(url, self.engine.rules)
        refusal = urls.check(url)
        if refusal is None and outcome.blocked:
            refusal = urls.UrlRefusal("blocked", "URL is blocked by a sandbox rule.")
        if refusal is not None:
            raise ApiError(422, f"URL blocked ({refusal.reason}): {refusal.message}")
        proxy = request.use_proxy.proxy if isinstance(request.use_proxy, ProxyConfig) else request.use_proxy
        country = (proxy or "any").strip().upper()
        if country not in ("ANY", "") and country not in account.approved_countries:
            raise ApiError(
                403,
                f"Country proxy '{country}' is not approved for this account; request access first "
                "(sandbox: PUT /_sandbox/tokens/{token} with approved_countries).",
            )
        return url, outcome

    def _take_slot(self, account: Account, cost: int) -> None:
        """Check the quota and take a concurrency slot, in one step under the engine lock."""
        engine = self.engine
        with engine.lock:
            now = engine.clock.now()
            engine.process_until(now)
            remaining = account.remaining(now)
            if remaining is not None and remaining < cost:
                raise ApiError(429, account.quota_exceeded_detail())
            if not engine.acquire_slot(account.token, account.max_concurrent_jobs):
                raise ApiError(
                    429,
                    f"Concurrency limit reached: {account.max_concurrent_jobs} jobs of this token are "
                    "running; retry in a second",
                    {"Retry-After": "1"},
                )


def _scrape_request(ctx: Ctx) -> ScrapeRequest:
    body = ctx.json()
    if not isinstance(body, dict):
        raise unprocessable("body", "", "Input should be a valid dictionary", "dict_type")
    request, error = validate_scrape(body)
    if request is None:
        assert error is not None
        raise ApiError(422, fastapi_detail(error))
    return request
