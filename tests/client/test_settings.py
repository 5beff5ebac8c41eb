"""Client settings from an Airflow-style connection (client/settings.py): base URL, extras, token."""

from __future__ import annotations

import pytest

from airflow_provider_scrapingpros.client.settings import (
    normalize_base_url,
    settings_from_connection,
)
from airflow_provider_scrapingpros.exceptions import (
    ScrapingProsAuthError,
)

TOKEN = "sp_unit_secret_token"


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
        extra={
            "timeout": "30",
            "max_retries": "2",
            "webhook_secret": "whsec",
            "backoff_cap": 3,
            "rate_limit_reserve": "2",
        },
        overrides={"max_retries": 7, "timeout": None},
    )
    assert (s.base_url, s.timeout, s.retry.max_retries, s.retry.backoff_cap) == (
        "http://127.0.0.1:8000",
        30,
        7,
        3,
    )
    assert (s.token, s.webhook_secret, s.rate_limit_reserve) == (TOKEN, "whsec", 2)
    assert TOKEN not in repr(s) and "whsec" not in repr(s)
    with pytest.raises(ValueError, match="Connection extra 'timeout' must be a number, got 'fast'"):
        settings_from_connection(
            conn_id="sp", host=None, port=None, password=TOKEN, extra={"timeout": "fast"}
        )
    with pytest.raises(ScrapingProsAuthError, match="Airflow connection 'sp' has no API token"):
        settings_from_connection(conn_id="sp", host=None, port=None, password="  ", extra={})


@pytest.mark.parametrize(
    ("token", "where"),
    [("sp_live\nX-Injected: 1", "position 8"), ("sp_li\rve", "position 6"), ("sp_l\u00efve", "position 5")],
)
def test_a_token_with_control_or_non_ascii_characters_is_refused_without_echoing_it(
    token: str, where: str
) -> None:
    with pytest.raises(ScrapingProsAuthError) as err:
        settings_from_connection(conn_id="sp", host=None, port=None, password=token, extra={})
    assert str(err.value) == (
        f"Airflow connection 'sp' has an API token with a control or non-ASCII character ({where}). "
        "Paste the token again into the connection's password field, without line breaks or spaces."
    )
    assert "sp_l" not in str(err.value)


@pytest.mark.parametrize(
    "host", ["http://user:sp_secret_token@127.0.0.1:8000", "https://:sp_secret_token@api.x"]
)
def test_credentials_in_the_base_url_are_refused_without_echoing_them(host: str) -> None:
    with pytest.raises(ValueError) as err:
        normalize_base_url(host)
    assert "sp_secret_token" not in str(err.value) and "user:sp" not in str(err.value)
    assert str(err.value).startswith("Connection host has credentials in it (user:password@)")
