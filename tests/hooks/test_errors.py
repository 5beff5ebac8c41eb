"""Typed errors over real HTTP: each maps to its exception with a message that says what to do, and
no log record (DEBUG, every logger), message or repr ever contains the token."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from airflow_provider_scrapingpros.client.ratelimit import reset_budgets
from airflow_provider_scrapingpros.exceptions import (
    JobNotFoundError,
    ResultExpiredError,
    ResultLostError,
    ResultPendingError,
    ScrapingProsAuthError,
    ScrapingProsError,
    ScrapingProsNotFoundError,
    ScrapingProsProxyNotApprovedError,
    ScrapingProsQuotaError,
    ScrapingProsRateLimitError,
    ScrapingProsResponseError,
    ScrapingProsTransportError,
    ScrapingProsURLBlockedError,
    ScrapingProsValidationError,
)
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook

from .helpers import DEV_TOKEN, FAST, logged, settled, urls

BAD_TOKEN = "sp_wrong_token_0123456789"
CONN = "Airflow connection 'scrapingpros_default'"


@pytest.fixture
def raised(caplog: pytest.LogCaptureFixture) -> Iterator[list[BaseException]]:
    """Collect the errors a test provokes; afterwards no token may appear anywhere."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # Airflow's config sets it to WARNING
    errors: list[BaseException] = []
    yield errors
    assert errors, "the test provoked no error"
    records = caplog.get_records("setup") + caplog.get_records("call")  # caplog.text is teardown's
    assert len(records) > len(errors)  # the DEBUG records really were captured
    # The test's own control calls (PUT /_sandbox/tokens/<token>) are not the hook's traffic.
    texts = [f"{r.getMessage()} {r.exc_text or ''}" for r in records if "/_sandbox/" not in r.getMessage()]
    texts += [f"{e!s} {e!r} {getattr(e, 'detail', '')}" for e in errors]
    for token in (DEV_TOKEN, BAD_TOKEN):
        assert [t for t in texts if token in t] == []


def catch(errors: list[BaseException], kind: type[ScrapingProsError], call: Callable[[], Any]) -> Any:
    with pytest.raises(kind) as info:
        call()
    errors.append(info.value)
    return info.value


def test_401_says_which_connection_to_fix(sp: Any, set_conn: Any, raised: list[BaseException]) -> None:
    set_conn(sp.base_url, password=BAD_TOKEN, **FAST)
    hook = ScrapingProsHook()
    err = catch(raised, ScrapingProsAuthError, hook.list_collections)
    assert str(err) == (
        "ScrapingPros rejected the API token on GET /v1/async/collections (401: Invalid API token. Check the "
        f"token or use the sandbox dev token.). Check the password (API token) of {CONN}: it must be a "
        "valid, active ScrapingPros token."
    )
    assert (err.status_code, logged(sp, "GET /v1/async/collections")) == (401, 1)  # not retried
    assert BAD_TOKEN not in f"{hook!r} {hook.core!r} {hook.core.settings!r} {hook._transport()!r}"


def test_403_proxy_not_approved(hook: ScrapingProsHook, sp: Any, raised: list[BaseException]) -> None:
    err = catch(
        raised,
        ScrapingProsProxyNotApprovedError,
        lambda: hook.scrape({"url": "https://e.com", "use_proxy": "DE"}),
    )
    assert str(err).startswith(
        "POST /v1/sync/scrape: proxy country not approved (403: Country proxy 'DE' is not"
    )
    assert str(err).endswith(
        "Request approval for that country in your ScrapingPros account, or use use_proxy='any'."
    )
    sp.set_token(DEV_TOKEN, approved_countries=["DE"])
    assert hook.scrape({"url": "https://e.com", "use_proxy": "DE"}).statusCode == 200


def test_422_names_the_field(hook: ScrapingProsHook, sp: Any, raised: list[BaseException]) -> None:
    server = catch(
        raised, ScrapingProsValidationError, lambda: hook.create_collection("x", callback_url="ftp://x")
    )
    assert server.errors == [("callback_url", "URL should be an absolute http(s) URL with a host")]
    assert str(server) == (
        "POST /v1/async/collections: request rejected (422): callback_url: URL should be an absolute http(s) "
        "URL with a host. Fix the named field(s) and try again."
    )
    blocked = catch(raised, ScrapingProsURLBlockedError, lambda: hook.scrape({"url": "http://127.0.0.1/"}))
    assert "Only public http(s) URLs can be scraped" in str(blocked)
    sent = settled(sp)["total"]
    local = catch(
        raised,
        ScrapingProsValidationError,
        lambda: hook.create_collection(
            "x", [{"url": "https://a.example"}, {"url": "https://b", "format": "pdf"}]
        ),
    )
    assert local.errors == [("requests[1].format", "Input should be 'html' or 'markdown'")]
    assert str(local).startswith(
        "1 invalid request field(s) in `requests`; nothing was sent to the API. Fix these and retry:\n"
        "  requests[1].format: Input should be 'html' or 'markdown'"
    )
    assert settled(sp)["total"] == sent  # rejected before any call


def test_404_unknown_ids(hook: ScrapingProsHook, raised: list[BaseException]) -> None:
    err = catch(raised, ScrapingProsNotFoundError, lambda: hook.get_run("no-such-collection", "no-such-run"))
    assert type(err) is ScrapingProsNotFoundError
    assert str(err).endswith(
        "The id is unknown, deleted, or belongs to another account: check the id and the connection's token."
    )


def test_typed_result_404s(sandbox_factory: Any, set_conn: Any, raised: list[BaseException]) -> None:
    sb = sandbox_factory(clock="manual", time_scale=1.0)
    set_conn(sb.base_url, **FAST)
    hook = ScrapingProsHook()
    c = hook.create_collection(
        "results", [{"url": "https://example.com/ok"}, {"url": "https://example.com/l?sp_lost=1"}]
    )
    run = hook.create_run(c.id)
    ok_job, lost_job = run.job_ids

    pending = catch(raised, ResultPendingError, lambda: hook.get_job_result(c.id, run.run_id, ok_job))
    assert (pending.error_code, pending.status_code) == ("result_pending", 404)
    assert "wait until it is terminal" in str(pending)
    sb.control.advance(120)
    assert hook.get_job_result(c.id, run.run_id, ok_job).message == "OK"
    lost = catch(raised, ResultLostError, lambda: hook.get_job_result(c.id, run.run_id, lost_job))
    assert "run the URL again" in str(lost)
    invalid = catch(raised, JobNotFoundError, lambda: hook.get_job_result(c.id, run.run_id, "not-a-job"))
    assert invalid.error_code == "job_id_invalid"

    sb.control.advance(49 * 3600)
    expired = catch(raised, ResultExpiredError, lambda: hook.get_job_result(c.id, run.run_id, ok_job))
    assert expired.error_code == "result_expired"
    assert isinstance(expired.completed_at, datetime) and expired.age_hours is not None
    assert 48.9 < expired.age_hours < 49.1
    assert "kept 48 h after completion" in str(expired)


def test_quota_429_is_not_retried(hook: ScrapingProsHook, sp: Any, raised: list[BaseException]) -> None:
    c = hook.create_collection("quota", urls(1))
    sp.set_token(DEV_TOKEN, credits_monthly=5, credits_used=5)
    err = catch(raised, ScrapingProsQuotaError, lambda: hook.create_run(c.id))
    assert str(err).startswith("POST /v1/async/collections/")
    assert "monthly credit quota exhausted (429: Monthly credit quota exceeded (5/5))" in str(err)
    assert str(err).endswith("Wait for the monthly reset or upgrade the plan; the hook does not retry this.")
    assert logged(sp, "POST /v1/async/collections/{cid}/run") == 1
    catch(raised, ScrapingProsQuotaError, lambda: hook.scrape({"url": "https://example.com"}))
    assert sp.stats()["runs"] == 0


def test_retry_after_is_honoured_up_to_the_cap(sp: Any, set_conn: Any, raised: list[BaseException]) -> None:
    set_conn(sp.base_url, retry_after_cap=5, **FAST)
    hook = ScrapingProsHook()
    sp.script_fault("GET /v1/health", "rate_429", 1)  # Retry-After: 1
    started = time.monotonic()
    assert hook.health().status == "ok"
    assert 1.0 <= time.monotonic() - started < 2.0

    # Over the cap: a hook whose cap (0.5 s) is below any wait the window can ask for (>= 1 s).
    set_conn(sp.base_url, retry_after_cap=0.5, **FAST)
    strict = ScrapingProsHook()
    sp.set_token(DEV_TOKEN, requests_per_minute=1)
    strict.list_collections()  # spends the window (health is a public route: not counted)
    err = catch(raised, ScrapingProsRateLimitError, strict.list_collections)  # our budget knows: not sent
    assert "this token's rate budget is used up" in str(err)
    assert "over the 0.5 s this call may wait (the hook's retry_after_cap" in str(err)
    assert err.retry_after is not None and err.retry_after >= 1
    assert logged(sp, "GET /v1/async/collections") == 1

    reset_budgets()  # a process that has not seen the headers yet: the server answers 429
    err = catch(raised, ScrapingProsRateLimitError, ScrapingProsHook().list_collections)
    assert err.status_code == 429 and err.retry_after is not None and err.retry_after >= 1
    assert f"the server asked to wait {err.retry_after:g} s" in str(err)
    assert "raise the hook's retry_after_cap" in str(err)
    assert logged(sp, "GET /v1/async/collections") == 2


def test_a_call_waits_on_the_rate_limit_no_longer_than_it_is_told(
    hook: ScrapingProsHook, sp: Any, raised: list[BaseException]
) -> None:
    # A sync wait with 0.5 s left before its deadline must not sit out a spent window (up to a
    # minute, with the default 120 s retry_after_cap) and report its timeout that much late.
    sp.set_token(DEV_TOKEN, requests_per_minute=3)
    c = hook.create_collection("capped", urls(1))
    run = hook.create_run(c.id)
    hook.get_run(c.id, run.run_id)  # the third request spends the window
    sent = logged(sp, "GET /v1/async/collections/{cid}/runs/{rid}")
    started = time.monotonic()
    err = catch(raised, ScrapingProsRateLimitError, lambda: hook.get_run(c.id, run.run_id, max_wait=0.5))
    assert time.monotonic() - started < 0.5
    assert "over the 0.5 s this call may wait (the hook's retry_after_cap, or the time left" in str(err)
    assert err.retry_after is not None and 0.5 < err.retry_after <= 61  # to the end of the clock minute
    assert logged(sp, "GET /v1/async/collections/{cid}/runs/{rid}") == sent  # the budget knew: not sent


def test_no_answer_is_a_transport_error(set_conn: Any, raised: list[BaseException]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connection refused
    set_conn(f"http://127.0.0.1:{port}", max_retries=2, **FAST)
    err = catch(raised, ScrapingProsTransportError, ScrapingProsHook().health)
    assert str(err).startswith(f"GET /v1/health: no answer from http://127.0.0.1:{port} after 3 attempts (")
    assert str(err).endswith(
        "Check the connection's host and the network, or raise the connection's timeout."
    )


class _NotTheApi(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"hello": "world"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_body_off_the_contract_fails_closed(set_conn: Any, raised: list[BaseException]) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotTheApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        set_conn(f"http://127.0.0.1:{server.server_address[1]}", **FAST)
        err = catch(raised, ScrapingProsResponseError, ScrapingProsHook().health)
        lazy = ScrapingProsHook().get_jobs_page_lazy("c1", "r1")  # the head alone has no required field
    finally:
        server.shutdown()
        server.server_close()
    assert "with a body that does not match the ScrapingPros API (status: Field required)" in str(err)
    assert (lazy.head.cursor_next, lazy.head.has_more) == (None, False)
    with pytest.raises(ScrapingProsResponseError, match=r"the ScrapingPros API \(items: Field required\)"):
        lazy.page()  # ...but its items are checked as strictly as get_jobs_page's
    assert str(err).endswith(
        "Check that the connection's host is a ScrapingPros API; if it is, upgrade this provider."
    )
