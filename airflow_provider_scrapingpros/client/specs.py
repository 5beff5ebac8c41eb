"""Request specs to validated `ScrapeRequest`s, before any API call: the one validator behind the
hook and the operators (which first read files and rendered JSON: tasks/request_specs.py).

Every problem is reported at once, each with the request's index and field path
(`requests[3].actions.0.selector: Field required`): fixing a 10,000-line URL file one error per task
try is misery. The error is a `ScrapingProsInputError`; its `errors` holds the (path, message) pairs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from ..exceptions import ScrapingProsInputError
from .models import ScrapeRequest, describe_errors

MAX_REPORTED_ERRORS = 20

RequestSpec = str | Mapping[str, Any] | ScrapeRequest
RequestSpecs = Sequence[RequestSpec]


def normalize_url(url: str) -> str:
    """What the API does to each URL (docs/api-notes.md#collections-and-idempotency); done here too
    so that dedupe keys match the server's."""
    url = url.strip()
    return url if "://" in url else f"https://{url}"


def validate_requests(items: Iterable[Any], *, field: str = "requests") -> list[ScrapeRequest]:
    """Validate every item (URL string, request dict or model) or raise one error listing them all."""
    parsed: list[ScrapeRequest] = []
    problems: list[tuple[str, str]] = []
    for index, item in enumerate(items):
        request = _validate_into(item, f"{field}[{index}]", problems)
        if request is not None:
            parsed.append(request)
    _raise_if_any(problems, field)
    return parsed


def validate_request(item: Any, *, field: str = "request") -> ScrapeRequest:
    """One request; its errors name `request.<field>`."""
    problems: list[tuple[str, str]] = []
    request = _validate_into(item, field, problems)
    _raise_if_any(problems, field)
    assert request is not None
    return request


def _validate_into(item: Any, where: str, problems: list[tuple[str, str]]) -> ScrapeRequest | None:
    raw = (
        item.url
        if isinstance(item, ScrapeRequest)
        else item.get("url")
        if isinstance(item, Mapping)
        else item
    )
    bad_url = isinstance(raw, str) and not _scrapable(raw)
    if bad_url:
        problems.append((f"{where}.url", f"must be an http(s) URL with a host, got {raw!r}"))
    try:
        request = _one(item)
    except ValidationError as exc:
        problems.extend((f"{where}.{e.field}", e.message) for e in describe_errors(exc))
    except (TypeError, ValueError) as exc:
        problems.append((where, str(exc)))
    else:
        return None if bad_url else request
    return None


# `javascript:…`, `mailto:…`, `data:…`: a scheme without `//`. `host:8080/x` is a port, not a scheme.
_OTHER_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:(?!\d)")


def _scrapable(url: str) -> bool:
    """Would the API scrape this URL at all? (It accepts anything, then blocks these.)"""
    raw = url.strip()
    if not raw or ("://" not in raw and _OTHER_SCHEME.match(raw)):
        return False
    parts = urlsplit(normalize_url(raw))
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _one(item: Any) -> ScrapeRequest:
    if isinstance(item, ScrapeRequest):
        return item.model_copy(update={"url": normalize_url(item.url)})
    if isinstance(item, str):
        return ScrapeRequest(url=normalize_url(item))
    if isinstance(item, Mapping):
        data = dict(item)
        if isinstance(data.get("url"), str):
            data["url"] = normalize_url(data["url"])
        return ScrapeRequest.model_validate(data)
    raise TypeError(f"expected a URL string, a request dict or a ScrapeRequest, got {type(item).__name__}")


def _raise_if_any(problems: list[tuple[str, str]], field: str) -> None:
    if not problems:
        return
    shown = "\n  ".join(f"{path}: {message}" for path, message in problems[:MAX_REPORTED_ERRORS])
    hidden = len(problems) - MAX_REPORTED_ERRORS
    more = f"\n  … and {hidden} more" if hidden > 0 else ""
    raise ScrapingProsInputError(
        f"{len(problems)} invalid request field(s) in `{field}`; nothing was sent to the API. "
        f"Fix these and retry:\n  {shown}{more}",
        errors=problems,
    )
