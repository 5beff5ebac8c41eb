"""The retrying machinery under every API call (sans-IO): attempt, decide, back off, parse, map.

`ApiCalls.call()` is the one retry loop: take a slot from the shared rate budget, send, feed the
budget, ask `retry.decide`, then parse the answer into a model, sleep and re-send, or raise the
typed error. `create_run_flow()` is the one exception to "retry = re-send": after an ambiguous
failure of POST …/run it lists the collection's runs and adopts the run created since the attempt
began; only when the look-up shows none is the POST sent again. "Since the attempt began" is read
on the server's clock, estimated from the look-up's `Date` header, so a skewed worker clock (or the
sandbox's manual clock) cannot hide our run; run ids already handed out in this process are never
adopted twice (so back-to-back runs of one collection stay apart). After a timeout the server may
still be working, so an empty look-up is repeated once before re-sending.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Generator, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import ValidationError

from ..exceptions import (
    ScrapingProsError,
    ScrapingProsInputError,
    ScrapingProsRateLimitError,
    ScrapingProsResponseError,
    ScrapingProsTransportError,
)
from .errors import error_for_response
from .models import Run, RunList, describe_errors
from .ratelimit import RateBudget, budget_for_key, budget_key
from .retry import (
    AttemptAction,
    AttemptDecision,
    AttemptOutcome,
    Failure,
    decide,
    http_date_epoch,
    parse_retry_after,
    safety_for,
)
from .settings import ClientSettings
from .wire import ApiRequest, ApiResponse, Flow, Result, Send, Sleep, TransportError

log = logging.getLogger("airflow_provider_scrapingpros.client.core")
T = TypeVar("T")

# Runs created up to this long before the attempt began still count as "ours" in the look-up: the
# `Date` header has one-second resolution.
CLOCK_MARGIN_S = 1.5

Steps = Generator[Send | Sleep, Any, T]


class ClaimedRuns:
    """Run ids this process already handed to a caller (bounded). A look-up after an ambiguous
    POST …/run must not adopt a run that an earlier call on the same collection created."""

    def __init__(self, size: int = 10_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def claim(self, run: Run) -> Run:
        with self._lock:
            self._ids[run.run_id] = None
            while len(self._ids) > self._size:
                self._ids.popitem(last=False)
        return run

    def __contains__(self, run_id: object) -> bool:
        with self._lock:
            return run_id in self._ids


CLAIMED_RUNS = ClaimedRuns()


def pick_new_run(runs: Sequence[Run], started: float) -> Run | None:
    """The run our unanswered attempt created, if any. `started` is on the server's clock.

    Candidates: created since `started` (less a margin for the `Date` header's 1 s resolution) and
    not already claimed in this process. The first one created after `started` wins; failing that,
    the latest one inside the margin.
    """
    fresh = [
        r
        for r in runs
        if r.created_at is not None
        and r.created_at >= started - CLOCK_MARGIN_S
        and r.run_id not in CLAIMED_RUNS
    ]
    after = [r for r in fresh if (r.created_at or 0.0) >= started]
    if len(after) > 1:
        log.warning("%d unclaimed runs were created since the attempt began; using the oldest.", len(after))
    if after:
        return min(after, key=lambda r: r.created_at or 0.0)
    return max(fresh, key=lambda r: r.created_at or 0.0) if fresh else None


def attempt_outcome(result: Result) -> AttemptOutcome:
    if isinstance(result, TransportError):
        return AttemptOutcome(failure=result.failure)
    retry_after = parse_retry_after(result.headers.get("retry-after"), time.time())
    quota = result.status == 429 and b"quota" in result.body.lower()
    return AttemptOutcome(status=result.status, retry_after=retry_after, quota=quota)


class ApiCalls:
    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings
        self._budget_key = budget_key(settings.base_url, settings.token)

    @property
    def budget(self) -> RateBudget:
        """Looked up on each use, so `ratelimit.reset_budgets()` reaches existing hooks too."""
        return budget_for_key(self._budget_key)

    def redact(self, text: str) -> str:
        """The token in every form a message can carry it: as is, URL-quoted, JSON- or repr-escaped."""
        token = self.settings.token
        if not token:
            return text
        for form in {token, quote(token, safe=""), json.dumps(token)[1:-1], repr(token)[1:-1]}:
            text = text.replace(form, "***")
        return text

    # ------------------------------------------------------------------------------- loops
    def call(self, request: ApiRequest, parse: Callable[[ApiResponse], T], gone_ok: bool = False) -> Flow[T]:
        """Send with retries. `gone_ok`: a 404 after an unanswered attempt means it took effect."""
        attempt, ambiguous = 0, False
        while True:
            result = yield from self._attempt(request)
            outcome = attempt_outcome(result)
            if gone_ok and ambiguous and isinstance(result, ApiResponse) and result.status == 404:
                return parse(result)
            decision = self._decide(request, outcome, attempt)
            if isinstance(result, ApiResponse) and decision.action is AttemptAction.DONE:
                if result.headers.get("idempotency-replayed") == "true":
                    log.info(
                        "%s %s was replayed by its Idempotency-Key: nothing new created.",
                        request.method,
                        request.path,
                    )
                return parse(result)
            ambiguous = ambiguous or outcome.ambiguous
            yield from self._back_off(request, result, decision, attempt)
            attempt += 1

    def create_run_flow(self, request: ApiRequest, collection_id: str) -> Flow[Run]:
        attempt = 0
        while True:
            sent_at: list[float] = []
            result = yield from self._attempt(request, sent_at)
            outcome = attempt_outcome(result)
            decision = self._decide(request, outcome, attempt)
            if isinstance(result, ApiResponse) and decision.action is AttemptAction.DONE:
                return CLAIMED_RUNS.claim(self.parser(Run.model_validate_json)(result))
            if decision.action is not AttemptAction.RECONCILE:
                yield from self._back_off(request, result, decision, attempt)
                attempt += 1
                continue
            log.warning(
                "POST %s got no usable answer (%s); looking the run up instead of sending again.",
                request.path,
                self._describe(result),
            )
            yield Sleep(decision.delay)
            lookups = 2 if outcome.failure is Failure.TIMEOUT else 1
            run = yield from self._find_run_since(collection_id, sent_at[0], lookups)
            if run is not None:
                log.info("Run %s was created by the unanswered attempt; using it.", run.run_id)
                return CLAIMED_RUNS.claim(run)
            log.info("No run was created by the unanswered attempt: sending POST %s again.", request.path)
            attempt += 1

    def _attempt(self, request: ApiRequest, sent_at: list[float] | None = None) -> Steps[Result]:
        """One send, after waiting for the rate budget; `sent_at` receives the time it left."""
        budget, cap = self.budget, self.settings.retry.retry_after_cap
        keep = self.settings.rate_limit_reserve
        while (wait := budget.reserve(max_wait=cap, keep=keep)) > 0:
            if wait > cap:  # same rule as a long Retry-After: say so rather than hold a worker
                raise ScrapingProsRateLimitError(
                    f"{request.method} {request.path}: this token's rate budget is used up "
                    f"(X-RateLimit-Remaining: 0) and its window resets in {wait:.0f} s, over the {cap:g} s "
                    "this call may wait (the hook's retry_after_cap, or the time left before a deadline). "
                    "Retry later or run fewer tasks with this token at once.",
                    retry_after=wait,
                    status_code=None,
                    method=request.method,
                    path=request.path,
                )
            yield Sleep(wait)
        result: Result | None = None
        if sent_at is not None:
            sent_at.append(time.time())
        try:
            result = yield Send(request)
        finally:  # also when the flow is abandoned mid-send (a cancelled task)
            budget.observe(result.headers if isinstance(result, ApiResponse) else None)
        return result

    def _decide(self, request: ApiRequest, outcome: AttemptOutcome, attempt: int) -> AttemptDecision:
        keyed = any(name.lower() == "idempotency-key" for name, _ in request.headers)
        return decide(safety_for(request.method, request.path, keyed), attempt, outcome, self.settings.retry)

    def _back_off(
        self, request: ApiRequest, result: Result, decision: AttemptDecision, attempt: int
    ) -> Steps[None]:
        if decision.action is AttemptAction.GIVE_UP:
            raise self.error(request, result, attempt + 1)
        log.info(
            "%s %s: %s; retrying in %.2f s (attempt %d of %d).",
            request.method,
            request.path,
            self._describe(result),
            decision.delay,
            attempt + 2,
            self.settings.retry.max_retries + 1,
        )
        yield Sleep(decision.delay)

    def _find_run_since(self, collection_id: str, started: float, lookups: int) -> Steps[Run | None]:
        request = ApiRequest("GET", f"{collection_path(collection_id)}/runs")
        parse_runs = self.parser(RunList.model_validate_json)
        for i in range(lookups):
            if i:
                yield Sleep(max(self.settings.retry.backoff_base, 0.05))
            runs, server_now = yield from self.call(
                request, lambda r: (parse_runs(r), http_date_epoch(r.headers.get("date")))
            )
            offset = (server_now - time.time()) if server_now is not None else 0.0
            run = pick_new_run(runs.items, started + offset)
            if run is not None:
                return run
        return None

    # ------------------------------------------------------------------------------- answers
    def parser(self, validate: Callable[[bytes], T]) -> Callable[[ApiResponse], T]:
        """Parse a success body; a body off the API's schema fails closed with a clear error."""

        def parse(response: ApiResponse) -> T:
            try:
                return validate(response.body)
            except ValidationError as exc:
                problems = "; ".join(f"{e.field}: {e.message}" for e in describe_errors(exc)[:5])
                raise ScrapingProsResponseError(
                    f"{self.settings.base_url} answered HTTP {response.status} with a body that does not "
                    f"match the ScrapingPros API ({self.redact(problems)}). Check that the connection's "
                    "host is a ScrapingPros API; if it is, upgrade this provider.",
                    status_code=response.status,
                ) from None

        return parse

    def error(self, request: ApiRequest, result: Result, attempts: int) -> ScrapingProsError:
        if isinstance(result, TransportError):
            tries = f" after {attempts} attempts" if attempts > 1 else ""
            return ScrapingProsTransportError(
                f"{request.method} {request.path}: no answer from {self.settings.base_url}{tries} "
                f"({self.redact(result.description)}). Check the connection's host and the network, "
                "or raise the connection's timeout.",
                method=request.method,
                path=request.path,
            )
        conn = self.settings.conn_id
        return error_for_response(
            result.status,
            result.body,
            method=request.method,
            path=request.path,
            retry_after=attempt_outcome(result).retry_after,
            redact=self.redact,
            attempts=attempts,
            auth_hint=f"the password (API token) of Airflow connection '{conn}'" if conn else "the API token",
        )

    def _describe(self, result: Result) -> str:
        if isinstance(result, TransportError):
            return self.redact(result.description)
        return f"HTTP {result.status}"


def quoted(value: str) -> str:
    """One path segment: ids are opaque, so quote everything (no `/` or `?` can sneak in)."""
    return quote(str(value), safe="")


def required_id(field: str, value: str) -> str:
    """An id about to go into a path, refused when empty: `collections//runs/` would reach the API
    as another endpoint (or a 404 that hides the forgotten parameter)."""
    if not isinstance(value, str) or not value.strip():
        raise ScrapingProsInputError(
            f"`{field}` is empty: nothing was sent. Pass the id (a template that renders to nothing, "
            "e.g. a missing dag_run.conf key or XCom, gives an empty id).",
            errors=[(field, "must not be empty")],
        )
    return quoted(value)


def collection_path(collection_id: str) -> str:
    return f"/v1/async/collections/{required_id('collection_id', collection_id)}"
