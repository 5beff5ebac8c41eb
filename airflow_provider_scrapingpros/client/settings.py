"""Connection fields -> client settings, without Airflow (the hook passes the fields in).

The connection form (provider info) shows Base URL (host), API token (password) and the extras
`timeout`, `max_retries`, `webhook_secret`. Further extras are read too, for tuning and tests:
`backoff_base`, `backoff_cap`, `retry_after_cap` (seconds), `rate_limit_reserve` (requests of each
rate window this process leaves to other processes on the same token; docs/distributed.md).
Extras given in URI form arrive as strings, so every number is coerced, and a bad value names the
extra.

Base URL rules: no host -> the public API; a host without scheme -> https, except loopback hosts
(the sandbox) -> http; a separate port is added when the host has none; trailing `/` dropped.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..exceptions import ScrapingProsAuthError
from .retry import RetrySettings

DEFAULT_BASE_URL = "https://api.scrapingpros.com"
DEFAULT_TIMEOUT = 120.0


@dataclass(frozen=True)
class ClientSettings:
    base_url: str = DEFAULT_BASE_URL
    token: str = field(default="", repr=False)
    timeout: float = DEFAULT_TIMEOUT
    retry: RetrySettings = field(default_factory=RetrySettings)
    conn_id: str | None = None  # only for messages ("check connection 'x'")
    webhook_secret: str | None = field(default=None, repr=False)
    rate_limit_reserve: int = 0

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def normalize_base_url(host: str | None, port: int | None = None) -> str:
    host = (host or "").strip()
    if not host:
        return DEFAULT_BASE_URL
    if "://" not in host:
        bare = urlsplit(f"//{host}").hostname or ""
        host = f"{'http' if _is_loopback(bare) else 'https'}://{host}"
    parts = urlsplit(host)
    if "@" in parts.netloc:
        # Never echo it: what stands before the @ is a credential.
        raise ValueError(
            "Connection host has credentials in it (user:password@); they would appear in links and "
            "messages. Remove them from the host and put the API token in the password field."
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"Connection host {host!r} is not an http(s) URL: use e.g. https://api.scrapingpros.com "
            "or http://127.0.0.1:8000 for the sandbox."
        )
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{int(port)}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _number(extra: Mapping[str, Any], name: str, kind: type[float] | type[int]) -> float | int | None:
    raw = extra.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = kind(float(raw)) if kind is int else kind(raw)
    except (TypeError, ValueError):
        raise ValueError(f"Connection extra {name!r} must be a number, got {raw!r}.") from None
    if value < 0:
        raise ValueError(f"Connection extra {name!r} must not be negative, got {raw!r}.")
    return value


def _check_token(token: str, where: str) -> None:
    """A token goes into an HTTP header: a line break there is an injection, and HTTP libraries
    quote the bad value in their errors, escaped, where no masker recognises it."""
    bad = next((i for i, ch in enumerate(token) if not 0x20 < ord(ch) < 0x7F), None)
    if bad is not None:
        raise ScrapingProsAuthError(
            f"{where} has an API token with a control or non-ASCII character (position {bad + 1}). "
            "Paste the token again into the connection's password field, without line breaks or spaces."
        )


def settings_from_connection(
    *,
    conn_id: str | None,
    host: str | None,
    port: int | None,
    password: str | None,
    extra: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
) -> ClientSettings:
    """`overrides` (hook constructor arguments) win over the extras, which win over defaults."""
    values: dict[str, Any] = {}
    for name, kind in (
        ("timeout", float),
        ("max_retries", int),
        ("backoff_base", float),
        ("backoff_cap", float),
        ("retry_after_cap", float),
        ("rate_limit_reserve", int),
    ):
        value = _number(extra, name, kind)
        if value is not None:
            values[name] = value
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    token = (password or "").strip()
    where = f"Airflow connection '{conn_id}'" if conn_id else "the connection"
    if not token:
        raise ScrapingProsAuthError(
            f"{where} has no API token: put your ScrapingPros token in its password field."
        )
    _check_token(token, where)
    retry = RetrySettings(
        **{
            k: values[k]
            for k in ("max_retries", "backoff_base", "backoff_cap", "retry_after_cap")
            if k in values
        }
    )
    secret = extra.get("webhook_secret")
    return ClientSettings(
        base_url=normalize_base_url(host, port),
        token=token,
        timeout=float(values.get("timeout") or DEFAULT_TIMEOUT),
        retry=retry,
        conn_id=conn_id,
        webhook_secret=str(secret) if secret else None,
        rate_limit_reserve=int(values.get("rate_limit_reserve") or 0),
    )
