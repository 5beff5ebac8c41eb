"""The sans-IO core without sockets: retry decisions, error mapping, settings, request building and
the rate budget. These are pure functions and generators, so they are fed values directly; the
behaviour over real HTTP is tested against the sandbox in tests/hooks/."""

from __future__ import annotations

import bisect
from collections import Counter
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

import pytest

from airflow_provider_scrapingpros.client import ScrapingProsCore
from airflow_provider_scrapingpros.exceptions import (
    JobNotFoundError,
    ResultExpiredError,
    ResultLostError,
    ResultPendingError,
    ScrapingProsAuthError,
    ScrapingProsNotFoundError,
    ScrapingProsProxyNotApprovedError,
    ScrapingProsQuotaError,
    ScrapingProsRateLimitError,
    ScrapingProsServerError,
    ScrapingProsURLBlockedError,
    ScrapingProsValidationError,
    error_for_response,
)
from airflow_provider_scrapingpros.models import Run
from airflow_provider_scrapingpros.ratelimit import RateBudget, budget_for
from airflow_provider_scrapingpros.retry import (
    Action,
    Failure,
    Outcome,
    RetrySettings,
    Safety,
    backoff_delay,
    decide,
    parse_retry_after,
    safety_for,
)
from airflow_provider_scrapingpros.settings import (
    ClientSettings,
    normalize_base_url,
    settings_from_connection,
)
from airflow_provider_scrapingpros.wire import ApiResponse, Send, Sleep

TOKEN = "sp_unit_secret_token"
S = RetrySettings(max_retries=3, backoff_base=0.5, backoff_cap=4.0, retry_after_cap=60.0)

# ------------------------------------------------------------------------------------ retry rules


@pytest.mark.parametrize(
    ("safety", "outcome", "action"),
    [
        (Safety.IDEMPOTENT, Outcome(status=200), Action.DONE),
        (Safety.CREATE_RUN, Outcome(status=201), Action.DONE),
        (Safety.IDEMPOTENT, Outcome(status=503), Action.RETRY),
        (Safety.IDEMPOTENT, Outcome(status=429, retry_after=1), Action.RETRY),
        (Safety.IDEMPOTENT, Outcome(failure=Failure.TIMEOUT), Action.RETRY),
        (Safety.IDEMPOTENT, Outcome(failure=Failure.DROPPED), Action.RETRY),
        (Safety.IDEMPOTENT, Outcome(failure=Failure.CONNECT), Action.RETRY),
        (Safety.CREATE_RUN, Outcome(status=502), Action.RECONCILE),
        (Safety.CREATE_RUN, Outcome(failure=Failure.TIMEOUT), Action.RECONCILE),
        (Safety.CREATE_RUN, Outcome(failure=Failure.DROPPED), Action.RECONCILE),
        (Safety.CREATE_RUN, Outcome(failure=Failure.CONNECT), Action.RETRY),
        (Safety.CREATE_RUN, Outcome(status=429, retry_after=1), Action.RETRY),
        (Safety.UNSAFE, Outcome(status=500), Action.GIVE_UP),
        (Safety.UNSAFE, Outcome(failure=Failure.DROPPED), Action.GIVE_UP),
        (Safety.UNSAFE, Outcome(failure=Failure.CONNECT), Action.RETRY),
        (Safety.IDEMPOTENT, Outcome(status=429, retry_after=1, quota=True), Action.GIVE_UP),
        (Safety.IDEMPOTENT, Outcome(status=401), Action.GIVE_UP),
        (Safety.IDEMPOTENT, Outcome(status=404), Action.GIVE_UP),
        (Safety.IDEMPOTENT, Outcome(status=422), Action.GIVE_UP),
    ],
)
def test_decision_table(safety: Safety, outcome: Outcome, action: Action) -> None:
    assert decide(safety, 0, outcome, S, rand=0.5).action is action


def test_retries_stop_after_max_retries() -> None:
    assert decide(Safety.IDEMPOTENT, 2, Outcome(status=500), S, rand=0.0).action is Action.RETRY
    last = decide(Safety.IDEMPOTENT, 3, Outcome(status=500), S, rand=0.0)
    assert last.action is Action.GIVE_UP
    assert last.reason == "gave up after 4 attempts"


def test_backoff_is_jittered_exponential_and_capped() -> None:
    assert [backoff_delay(a, S, 0.0) for a in range(6)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert [backoff_delay(a, S, 1.0) for a in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert decide(Safety.IDEMPOTENT, 1, Outcome(status=502), S, rand=0.5).delay == 0.75


def test_retry_after_is_honoured_never_shortened() -> None:
    low = decide(Safety.IDEMPOTENT, 0, Outcome(status=429, retry_after=7), S, rand=0.0)
    high = decide(Safety.IDEMPOTENT, 0, Outcome(status=429, retry_after=7), S, rand=1.0)
    assert (low.action, low.delay, high.delay) == (Action.RETRY, 7.0, 8.0)  # jitter bounded to +1 s


def test_retry_after_over_the_cap_gives_up_and_says_how_long() -> None:
    decision = decide(Safety.IDEMPOTENT, 0, Outcome(status=429, retry_after=300), S, rand=0.0)
    assert decision.action is Action.GIVE_UP
    assert decision.reason == "server asked to wait 300 s, over the 60 s cap"


@pytest.mark.parametrize(
    ("method", "path", "keyed", "safety"),
    [
        ("GET", "/v1/async/collections", False, Safety.IDEMPOTENT),
        ("PUT", "/v1/async/collections/c", False, Safety.IDEMPOTENT),
        ("DELETE", "/v1/async/collections/c", False, Safety.IDEMPOTENT),
        ("POST", "/v1/async/collections", True, Safety.IDEMPOTENT),
        ("POST", "/v1/async/collections", False, Safety.UNSAFE),
        ("POST", "/v1/async/collections/c/run", False, Safety.CREATE_RUN),
        ("POST", "/v1/sync/scrape", False, Safety.IDEMPOTENT),
    ],
)
def test_safety_by_method_and_path(method: str, path: str, keyed: bool, safety: Safety) -> None:
    assert safety_for(method, path, keyed) is safety


def test_retry_after_seconds_and_http_date() -> None:
    now = 1_800_000_000.0
    in_30s = format_datetime(datetime.fromtimestamp(now + 30, timezone.utc), usegmt=True)
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(in_30s, now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


# ------------------------------------------------------------------------------------ error mapping


def _error(status: int, body: bytes, retry_after: float | None = None) -> Exception:
    return error_for_response(
        status,
        body,
        method="GET",
        path="/v1/x",
        retry_after=retry_after,
        redact=lambda t: t.replace(TOKEN, "***"),
        auth_hint="the password (API token) of Airflow connection 'sp'",
    )


def test_errors_map_to_types_with_next_steps() -> None:
    auth = _error(401, b'{"detail":"Invalid token"}')
    assert isinstance(auth, ScrapingProsAuthError)
    assert str(auth) == (
        "ScrapingPros rejected the API token on GET /v1/x (401: Invalid token). Check the password (API "
        "token) of Airflow connection 'sp': it must be a valid, active ScrapingPros token."
    )
    assert isinstance(_error(403, b'{"detail":"Country DE not approved"}'), ScrapingProsProxyNotApprovedError)
    assert isinstance(_error(404, b'{"detail":"Collection not found"}'), ScrapingProsNotFoundError)
    assert isinstance(_error(500, b"oops"), ScrapingProsServerError)
    quota = _error(429, b'{"detail":"Monthly credit quota exceeded (5/5)"}')
    assert isinstance(quota, ScrapingProsQuotaError)
    assert "Wait for the monthly reset or upgrade the plan" in str(quota)
    rate = _error(429, b'{"detail":"Rate limit exceeded: 30 requests per minute"}', retry_after=42)
    assert isinstance(rate, ScrapingProsRateLimitError)
    assert rate.retry_after == 42
    assert "the server asked to wait 42 s" in str(rate)


def test_validation_error_names_field_paths() -> None:
    body = (
        b'{"detail":[{"loc":["body","requests",2,"actions",0,"click","selector"],'
        b'"msg":"Field required","type":"missing"}]}'
    )
    err = _error(422, body)
    assert isinstance(err, ScrapingProsValidationError)
    assert err.errors == [("requests.2.actions.0.selector", "Field required")]
    assert str(err) == (
        "GET /v1/x: request rejected (422): requests.2.actions.0.selector: Field required. "
        "Fix the named field(s) and try again."
    )
    blocked = _error(422, b'{"detail":"URL blocked: private_ip"}')
    assert isinstance(blocked, ScrapingProsURLBlockedError)


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("result_pending", ResultPendingError),
        ("result_expired", ResultExpiredError),
        ("result_lost", ResultLostError),
        ("job_id_invalid", JobNotFoundError),
    ],
)
def test_typed_result_404s(code: str, cls: type[Exception]) -> None:
    body = (
        b'{"detail":{"error_code":"' + code.encode() + b'","message":"m",'
        b'"completed_at":"2026-05-01T10:00:00.000Z","age_hours":49.5}}'
    )
    err = _error(404, body)
    assert type(err) is cls
    assert isinstance(err, ScrapingProsNotFoundError)
    assert (err.error_code, err.age_hours) == (code, 49.5)  # type: ignore[attr-defined]
    assert err.completed_at == datetime(2026, 5, 1, 10, tzinfo=timezone.utc)  # type: ignore[attr-defined]


def test_server_text_is_redacted() -> None:
    err = _error(401, b'{"detail":"token ' + TOKEN.encode() + b' revoked"}')
    assert TOKEN not in str(err)
    assert "token *** revoked" in str(err)


# ------------------------------------------------------------------------------------ settings


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        (None, None, "https://api.scrapingpros.com"),
        ("", 8000, "https://api.scrapingpros.com"),
        ("http://127.0.0.1:8000/", None, "http://127.0.0.1:8000"),
        ("127.0.0.1", 8000, "http://127.0.0.1:8000"),
        ("localhost:9000", None, "http://localhost:9000"),
        ("api.example.com", None, "https://api.example.com"),
        ("https://api.example.com/prefix/", 8443, "https://api.example.com:8443/prefix"),
        ("http://127.0.0.1:8000", 9999, "http://127.0.0.1:8000"),
    ],
)
def test_base_url_from_host_and_port(host: str | None, port: int | None, url: str) -> None:
    assert normalize_base_url(host, port) == url


def test_settings_from_connection_coerces_extras_and_hides_the_token() -> None:
    s = settings_from_connection(
        conn_id="sp",
        host="127.0.0.1",
        port=8000,
        password=TOKEN,
        extra={"timeout": "30", "max_retries": "2", "webhook_secret": "whsec", "backoff_cap": 3},
        overrides={"max_retries": 7, "timeout": None},
    )
    assert (s.base_url, s.timeout, s.retry.max_retries, s.retry.backoff_cap) == (
        "http://127.0.0.1:8000",
        30,
        7,
        3,
    )
    assert (s.token, s.webhook_secret) == (TOKEN, "whsec")
    assert TOKEN not in repr(s) and "whsec" not in repr(s)
    with pytest.raises(ValueError, match="Connection extra 'timeout' must be a number, got 'fast'"):
        settings_from_connection(
            conn_id="sp", host=None, port=None, password=TOKEN, extra={"timeout": "fast"}
        )
    with pytest.raises(ScrapingProsAuthError, match="Airflow connection 'sp' has no API token"):
        settings_from_connection(conn_id="sp", host=None, port=None, password="  ", extra={})


# ------------------------------------------------------------------------------------ flows


def _core(**retry: Any) -> ScrapingProsCore:
    return ScrapingProsCore(
        ClientSettings(base_url="http://unit.invalid", token=TOKEN, retry=RetrySettings(**retry))
    )


def test_jobs_page_request_is_built_from_filters() -> None:
    flow = _core().get_jobs_page(
        "c/1",
        "r1",
        limit=500,
        cursor="abc",
        status_filter=["completed", "failed,timeout"],
        order_by="completed_at",
        order_dir="asc",
        since_completed_at=datetime(2026, 5, 1, 10, 0, 0, 123000),
        include_results=True,
    )
    action = next(flow)
    assert isinstance(action, Send)
    assert action.request.method == "GET"
    assert action.request.path == "/v1/async/collections/c%2F1/runs/r1/jobs"
    assert action.request.params == (
        ("limit", "100"),
        ("cursor", "abc"),
        ("status_filter", "completed,failed,timeout"),
        ("order_by", "completed_at"),
        ("order_dir", "asc"),
        ("since_completed_at", "2026-05-01T10:00:00.123000Z"),
        ("include_results", "true"),
    )
    flow.close()


def test_bad_inputs_fail_before_anything_is_sent() -> None:
    core = _core()
    with pytest.raises(ScrapingProsValidationError, match="Invalid order_by 'url', nothing was sent"):
        core.get_jobs_page("c", "r", order_by="url")
    with pytest.raises(ScrapingProsValidationError, match="Invalid status_filter 'done'"):
        core.get_jobs_page("c", "r", status_filter="completed,done")
    with pytest.raises(ScrapingProsValidationError) as info:
        core.create_collection(
            "n", [{"url": "https://a.example"}, {"url": "https://b", "actions": [{"type": "click"}]}]
        )
    assert info.value.errors == [("requests.1.actions.0.selector", "Field required")]


def test_collection_retries_reuse_one_idempotency_key() -> None:
    flow = _core(backoff_base=0.01).create_collection("n", [{"url": "https://a.example"}])
    first = next(flow)
    assert isinstance(first, Send)
    key = dict(first.request.headers)["Idempotency-Key"]
    assert len(key) == 32
    assert first.request.json == {"name": "n", "requests": [{"url": "https://a.example"}]}
    assert isinstance(flow.send(ApiResponse(503, {}, b"{}")), Sleep)
    second = flow.send(None)
    assert isinstance(second, Send)
    assert dict(second.request.headers)["Idempotency-Key"] == key
    body = b'{"id":"c1","name":"n","message":"Collection created successfully."}'
    with pytest.raises(StopIteration) as done:
        flow.send(ApiResponse(201, {"idempotency-replayed": "true"}, body))
    assert done.value.value.id == "c1"


# ------------------------------------------------------------------------------------ rate budget


def test_rate_budget_waits_for_the_window_then_refills() -> None:
    budget = RateBudget()
    assert budget.reserve(now=0.0) == 0.0  # nothing known yet: go
    budget.observe(
        {"x-ratelimit-limit": "10", "x-ratelimit-remaining": "2", "x-ratelimit-reset": "30"}, now=0.0
    )
    assert (budget.reserve(now=1.0), budget.reserve(now=1.0)) == (0.0, 0.0)
    assert budget.reserve(now=1.0) == 30.0  # a lone waiter: until the window ends (+1 s margin), no more
    assert budget.reserve(now=31.5) == 0.0  # window rolled: full again
    assert budget.remaining == 9


def _spent(limit: int, reset: int = 30) -> RateBudget:
    """A budget whose window (ending at reset + 1 s margin) has nothing left, as seen at time 0."""
    budget = RateBudget()
    budget.observe(
        {"x-ratelimit-limit": str(limit), "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
        now=0.0,
    )
    return budget


def test_refused_callers_come_back_at_the_budgets_pace_not_in_a_herd() -> None:
    # 1,000 triggers refused at once (bench/triggerer.py): at 2,000/min the window serves one request
    # per 30 ms, so no more than that may re-arrive in any slice of time, and all of them are served.
    budget, n = _spent(limit=2000), 1000
    waits = sorted(budget.reserve(now=0.5) for _ in range(n))
    end = 31.0  # reset + margin
    assert waits[0] == end - 0.5  # the first waiter loses nothing
    assert waits[-1] <= end - 0.5 + 30.0  # and the last stays well below the 120 s retry_after_cap
    for dt in (0.01, 0.1, 1.0, 5.0):
        per_slice = 2000 / 60 * dt
        busiest = max(bisect.bisect_left(waits, w + dt) - i for i, w in enumerate(waits))
        assert busiest <= per_slice + 1, (dt, busiest)
    arrivals = [0.5 + w for w in waits]
    assert all(budget.reserve(now=t) == 0.0 for t in arrivals)  # each comes back to a fresh window
    assert budget.remaining == 2000 - n


def test_waiters_beyond_half_a_window_share_slots_instead_of_waiting_longer() -> None:
    budget = _spent(limit=10)  # 6 s per slot: five slots in the first half of the next window
    waits = [budget.reserve(now=1.0) for _ in range(12)]
    assert max(waits) <= 30.0 + 30.0  # window end + half a window
    assert max(Counter(waits).values()) == 3  # 12 waiters on 5 slots


def test_a_waiter_is_never_booked_past_the_wait_it_accepts() -> None:
    # A hook with retry_after_cap=40 s must not be given up on because others were booked first:
    # the window rolls over at 31 s, within its cap, so it comes back then, not at its slot.
    budget = _spent(limit=10)  # 6 s per slot
    patient = [budget.reserve(now=1.0) for _ in range(3)]
    assert patient == [30.0, 36.0, 42.0]
    assert budget.reserve(now=1.0, max_wait=40.0) == 30.0  # the roll-over, not the 48 s slot
    assert budget.reserve(now=1.0) == 48.0  # it took no slot: the next patient waiter gets it
    assert budget.reserve(now=1.0, max_wait=20.0) == 30.0  # the roll-over is too far: the caller gives up
    assert budget.reserve(now=1.0) == 54.0  # and booked nothing either (48 s went to the waiter above)


def test_a_later_estimate_of_the_window_end_does_not_turn_a_booked_waiter_away() -> None:
    # Reset is in whole seconds, so answers in the same window disagree on its end by up to 1 s. A
    # waiter booked against the earliest estimate must find the window rolled when it comes back.
    budget = _spent(limit=100)
    wait = budget.reserve(now=0.2)
    later = {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "30"}
    budget.observe(later, now=0.9)  # an answer still in flight: its estimate ends 0.9 s later
    assert budget.reserve(now=0.2 + wait) == 0.0


def test_rate_budget_is_shared_per_token_and_hides_it() -> None:
    a = budget_for("http://unit.invalid", TOKEN)
    assert budget_for("http://unit.invalid", TOKEN) is a
    assert budget_for("http://unit.invalid", TOKEN + "x") is not a
    assert TOKEN not in repr(a)


def _run(run_id: str, created_at: float) -> Run:
    return Run(run_id=run_id, collection_id="c", status="in_progress", created_at=created_at)


def test_run_lookup_prefers_the_first_run_after_the_attempt_and_skips_claimed_ones() -> None:
    from airflow_provider_scrapingpros.flows import CLAIMED_RUNS, pick_new_run

    started = 1000.0
    older, margin, ours, later = (
        _run("u-old", 990.0),
        _run("u-margin", 999.5),
        _run("u-ours", 1000.2),
        _run("u-l", 1001),
    )
    assert pick_new_run([later, ours, margin, older], started) is ours
    assert pick_new_run([margin, older], started) is margin  # inside the Date header's resolution
    assert pick_new_run([older], started) is None
    CLAIMED_RUNS.claim(ours)
    assert pick_new_run([ours, margin], started) is margin
    CLAIMED_RUNS.claim(margin)
    assert pick_new_run([ours, margin, older], started) is None
