"""The Airflow connection: host/port/extras parsing, and `test_connection()` (no credits spent)."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_provider_scrapingpros import get_provider_info
from airflow_provider_scrapingpros.exceptions import ScrapingProsAuthError
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook

from .helpers import DEV_TOKEN, settled


def test_class_attributes_match_provider_info() -> None:
    info = get_provider_info()
    assert info["connection-types"] == [
        {
            "connection-type": "scrapingpros",
            "hook-class-name": f"{ScrapingProsHook.__module__}.ScrapingProsHook",
        }
    ]
    assert (ScrapingProsHook.conn_type, ScrapingProsHook.default_conn_name) == (
        "scrapingpros",
        "scrapingpros_default",
    )
    assert (ScrapingProsHook.conn_name_attr, ScrapingProsHook.hook_name) == (
        "scrapingpros_conn_id",
        "ScrapingPros",
    )
    assert set(info["conn-fields"]) == {"timeout", "max_retries", "webhook_secret"}


def test_test_connection_succeeds_and_spends_nothing(sp: Any, set_conn: Any) -> None:
    set_conn(sp.base_url)
    before = sp.token(DEV_TOKEN)["credits_used"]
    ok, message = ScrapingProsHook().test_connection()
    assert (ok, message) == (True, f"Connected to {sp.base_url}: API ok, token accepted.")
    assert sp.token(DEV_TOKEN)["credits_used"] == before == 0
    assert settled(sp)["by_route"] == {"GET /v1/health": 1, "GET /v1/async/collections": 1}
    assert sp.stats()["collections_created"] == 0


def test_test_connection_reports_a_bad_token(sp: Any, set_conn: Any) -> None:
    set_conn(sp.base_url, password="sp_not_a_real_token")
    ok, message = ScrapingProsHook().test_connection()
    assert ok is False
    assert message.startswith("ScrapingPros rejected the API token on GET /v1/async/collections (401: ")
    assert "Check the password (API token) of Airflow connection 'scrapingpros_default'" in message
    assert "sp_not_a_real_token" not in message
    assert sp.token(DEV_TOKEN)["credits_used"] == 0


def test_test_connection_reports_missing_token_and_unreachable_host(set_conn: Any) -> None:
    set_conn("http://127.0.0.1:1", password="")
    assert ScrapingProsHook().test_connection() == (
        False,
        "Airflow connection 'scrapingpros_default' has no API token: put your ScrapingPros token in its "
        "password field.",
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    set_conn(f"http://127.0.0.1:{port}", backoff_base=0.01)
    ok, message = ScrapingProsHook().test_connection()
    assert ok is False
    assert message.startswith(f"GET /v1/health: no answer from http://127.0.0.1:{port} after 2 attempts")


@pytest.mark.parametrize("form", ["scheme", "host+port", "host:port"])
def test_host_forms_reach_the_sandbox(sp: Any, set_conn: Any, form: str) -> None:
    parts = urlsplit(sp.base_url)
    host, port = parts.hostname, parts.port
    if form == "scheme":
        set_conn(sp.base_url + "/")
    elif form == "host+port":
        set_conn(host, port=port)
    else:
        set_conn(f"{host}:{port}")
    hook = ScrapingProsHook()
    assert hook.base_url == sp.base_url
    assert hook.health().status == "ok"
    assert asyncio.run(ScrapingProsHook().ahealth()).status == "ok"


def test_defaults_and_overrides(set_conn: Any) -> None:
    set_conn(None, timeout="15", max_retries="4", webhook_secret="whsec_x", backoff_cap="2")
    hook = ScrapingProsHook(max_retries=1)
    settings = hook.core.settings
    assert settings.base_url == "https://api.scrapingpros.com"
    assert (settings.timeout, settings.retry.max_retries, settings.retry.backoff_cap) == (15.0, 1, 2.0)
    assert settings.retry.backoff_base == 0.5 and settings.retry.retry_after_cap == 120.0
    assert settings.webhook_secret == "whsec_x"
    assert hook.run_url("c", "r") == "https://api.scrapingpros.com/v1/async/collections/c/runs/r"
    assert "whsec_x" not in repr(settings) and DEV_TOKEN not in repr(settings)


def test_token_is_registered_with_airflows_secrets_masker(
    set_conn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # airflow.sdk.log applies this redact in its log processors but imports it from a private module
    # without re-exporting it.
    from airflow.sdk.log import redact  # type: ignore[attr-defined]

    sync_token, async_token = "sp_mask_probe_sync_7f3a", "sp_mask_probe_async_9c1e"
    assert redact(f"a {sync_token} b {async_token}") == f"a {sync_token} b {async_token}"
    set_conn("http://127.0.0.1:1", password=sync_token)
    ScrapingProsHook().core  # noqa: B018 - loading the connection is the point
    monkeypatch.setenv(
        "AIRFLOW_CONN_SP_ASYNC", f'{{"conn_type": "scrapingpros", "password": "{async_token}"}}'
    )
    asyncio.run(ScrapingProsHook("sp_async").acore())
    assert redact(f"a {sync_token} b {async_token}") == "a *** b ***"


@pytest.mark.parametrize("conn_type", ["aws", "http"])
def test_a_connection_of_another_type_is_refused_before_its_password_is_sent(
    sp: Any, monkeypatch: pytest.MonkeyPatch, conn_type: str
) -> None:
    conn = {"conn_type": conn_type, "host": sp.base_url, "password": "aws_secret_never_sent"}
    monkeypatch.setenv("AIRFLOW_CONN_SCRAPINGPROS_DEFAULT", json.dumps(conn))
    with pytest.raises(ScrapingProsAuthError) as err:
        ScrapingProsHook().get_run("c", "r")
    assert str(err.value) == (
        f"Airflow connection 'scrapingpros_default' is of type '{conn_type}', not 'scrapingpros': "
        "its password is not sent to ScrapingPros. Point the task at a connection of type "
        "'scrapingpros' (scrapingpros_conn_id), or fix this connection's type."
    )
    with pytest.raises(ScrapingProsAuthError):
        asyncio.run(ScrapingProsHook().aget_run("c", "r"))
    assert settled(sp)["total"] == 0


def test_the_first_call_logs_the_base_url_and_never_the_token(
    sp: Any, set_conn: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    set_conn(sp.base_url)
    hook = ScrapingProsHook()
    hook.health()
    hook.health()
    out = capsys.readouterr().out  # Airflow's task logger writes there
    expected = f"Using the ScrapingPros API at {sp.base_url} (connection 'scrapingpros_default')."
    assert [line for line in out.splitlines() if "ScrapingPros API at" in line] == [
        line for line in out.splitlines() if expected in line
    ]
    assert out.count(expected) == 1
    assert DEV_TOKEN not in out


def test_credentials_in_the_host_never_reach_a_message_or_a_link(set_conn: Any) -> None:
    set_conn("http://user:sp_in_the_url_7f3a@127.0.0.1:1")
    ok, message = ScrapingProsHook().test_connection()
    assert ok is False and message.startswith("Connection host has credentials in it (user:password@)")
    assert "sp_in_the_url_7f3a" not in message
    with pytest.raises(ValueError) as err:
        ScrapingProsHook().run_url("c", "r")
    assert "sp_in_the_url_7f3a" not in str(err.value)
