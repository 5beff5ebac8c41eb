"""Simulated target pages and the ScrapeResponse body (docs/api-notes.md#results).

Bodies are a pure function of (URL, format, size, kind), so nothing is stored per job: a page is
rebuilt on each read in microseconds (a string repeat and a slice). Every body is ASCII (the URL is
percent-quoted before it is embedded), so its UTF-8 size equals its length and the 256 KB inline cap
can be decided from `body_size()` without building the body at all.

A page without a size hint is 1-1.5 KB, or with `--body-size-mean` a lognormal draw per URL
(`PageSizes`, docs/sandbox.md#link-model): still a pure function of the URL and the config, so the
inline-cap decision on a jobs page and a later `/result` read agree on the size.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any
from urllib.parse import quote

from ..client.models import EvaluateAction, JobStatus, ScrapeRequest, WhileAction
from .config import SandboxConfig
from .outcomes import Settlement, TargetOutcome

_WORDS = (
    "sandbox scraping pros simulated page content deterministic derived from the target url "
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt "
)
_DEFAULT_BINARY_BYTES = 2048
# Bounds of a drawn page size: below 1 KB a page has no room for its own head, and a far tail above
# 5 MB would turn one URL of a big batch into a surprise the rehearsal did not ask for.
MIN_DRAWN_BYTES = 1024
MAX_DRAWN_BYTES = 5 * 1024 * 1024
_LOG_MIN, _LOG_MAX = math.log(MIN_DRAWN_BYTES), math.log(MAX_DRAWN_BYTES)
_STANDARD_NORMAL = NormalDist()
_UNIT = 2.0**52  # 52 bits of the digest: (x + 0.5) / 2**52 is exact and strictly inside (0, 1)


def _url_digest(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()


def _kind(end: Settlement) -> str:
    if end.captcha:
        return "captcha"
    if end.block_reason not in (None, "none"):
        return "block"
    code = end.status_code or 200
    return "ok" if 200 <= code < 300 else "error"


@dataclass(frozen=True)
class PageSizes:
    """The size of a page without an `sp_bytes` hint: 1-1.5 KB when `mean` is None, else lognormal
    with that mean, `mu = ln(mean) - sigma**2 / 2`, drawn from a hash of (seed, URL)."""

    mean: int | None = None
    sigma: float = 0.5
    seed: int = 0

    @classmethod
    def from_config(cls, config: SandboxConfig) -> PageSizes:
        return cls(config.body_size_mean, config.body_size_sigma, config.seed)

    def default_size(self, url: str) -> int:
        if self.mean is None:
            return 1024 + int(_url_digest(url)[:4], 16) % 512
        # One hash and an inverse CDF instead of a seeded `random.Random` per URL: a few microseconds,
        # no generator state, and the same size on every Python version.
        digest = hashlib.sha256(f"{self.seed}:{url}".encode("utf-8", "surrogatepass")).digest()
        uniform = ((int.from_bytes(digest[:8], "big") >> 12) + 0.5) / _UNIT
        mu = math.log(self.mean) - self.sigma**2 / 2
        # Clamped in log space, so a huge sigma can never overflow exp().
        log_size = min(_LOG_MAX, max(_LOG_MIN, mu + self.sigma * _STANDARD_NORMAL.inv_cdf(uniform)))
        return min(MAX_DRAWN_BYTES, max(MIN_DRAWN_BYTES, round(math.exp(log_size))))


DEFAULT_SIZES = PageSizes()


def body_size(url: str, outcome: TargetOutcome, sizes: PageSizes = DEFAULT_SIZES) -> int:
    """UTF-8 size of the body string a completed job carries (`html`, `markdown` or `body_base64`)."""
    if outcome.binary is not None:
        raw = _DEFAULT_BINARY_BYTES if outcome.bytes is None else outcome.bytes
        return 4 * ((raw + 2) // 3)
    return sizes.default_size(url) if outcome.bytes is None else outcome.bytes


def _exact(head: str, tail: str, size: int, seed: str) -> str:
    room = size - len(head) - len(tail)
    if room < 0:
        return (head + tail)[:size]
    unit = f"{seed} {_WORDS}"
    return head + (unit * (room // len(unit) + 1))[:room] + tail


def page(url: str, fmt: str, size: int, kind: str) -> str:
    digest = _url_digest(url)
    shown = html.escape(quote(url, safe=":/?&=%#@+,;~!$'()*"), quote=True)
    title = {
        "ok": f"Sandbox page {digest[:8]}",
        "error": "Error response",
        "captcha": "Just a moment... (captcha)",
        "block": "Access denied",
    }[kind]
    if fmt == "markdown":
        return _exact(f"# {title}\n\nSource: {shown}\n\n", "\n", size, digest[:16])
    head = (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title></head>'
        f'<body><h1>{title}</h1><a href="{shown}">{shown}</a><p>'
    )
    return _exact(head, "</p></body></html>\n", size, digest[:16])


def binary_base64(url: str, mime: str, size: int) -> str:
    unit = f"{mime}:{_url_digest(url)}:".encode()
    raw = (unit * (size // len(unit) + 1))[:size]
    return base64.b64encode(raw).decode("ascii")


def _extracted(url: str, request: ScrapeRequest, outcome: TargetOutcome) -> dict[str, Any] | None:
    data: dict[str, Any] = {}
    for name, spec in (request.extract or {}).items():
        multiple = isinstance(spec, dict) and bool(spec.get("multiple"))
        data[name] = [f"{name} {i} of {url}" for i in (1, 2)] if multiple else f"{name} of {url}"
    if outcome.extractable:
        data["structured_data"] = {
            "@type": "WebPage",
            "url": url,
            "name": f"Sandbox page {_url_digest(url)[:8]}",
        }
    return data or None


def _evaluations(request: ScrapeRequest) -> list[Any] | None:
    """The sandbox runs no JavaScript: one null per `evaluate` action, in order."""
    found: list[Any] = []
    for action in request.actions or []:
        inner = action.actions if isinstance(action, WhileAction) else [action]
        found.extend(None for a in inner if isinstance(a, EvaluateAction))
    return found or None


def scrape_response(
    *,
    url: str,
    custom_id: str | None,
    request: ScrapeRequest,
    outcome: TargetOutcome,
    end: Settlement,
    queue_wait_ms: int = 0,
    guidance: dict[str, Any] | None = None,
    sizes: PageSizes = DEFAULT_SIZES,
) -> dict[str, Any]:
    """The ScrapeResponse of a finished fetch; `guidance` only on sync scrape."""
    fetched = end.status == JobStatus.COMPLETED
    body: dict[str, Any] = {"html": None, "markdown": None, "body_base64": None, "content_type": None}
    if fetched:
        size = body_size(url, outcome, sizes)
        if outcome.binary is not None:
            raw = _DEFAULT_BINARY_BYTES if outcome.bytes is None else outcome.bytes
            body["body_base64"] = binary_base64(url, outcome.binary, raw)
            body["content_type"] = outcome.binary
        else:
            body[request.format] = page(url, request.format, size, _kind(end))
            body["content_type"] = "text/html; charset=utf-8"
    exec_ms = round(end.duration * 1000)
    # An async body that was fetched says "OK" even for a 404 page; sync scrapes and failed
    # fetches carry the error text (docs/api-notes.md#results).
    says_error = guidance is not None or not fetched
    response: dict[str, Any] = {
        "message": (end.message or "OK") if says_error else "OK",
        "url": url,
        "custom_id": custom_id,
        **body,
        "statusCode": end.status_code,
        "executionTime": round(end.duration, 3),
        "potentiallyBlockedByCaptcha": end.captcha,
        "timings": {"queue_wait_ms": queue_wait_ms, "proxy_ms": exec_ms},
        "screenshot": _screenshot(url) if fetched and request.screenshot else None,
        "extracted_data": _extracted(url, request, outcome) if fetched else None,
        "evaluate_results": _evaluations(request) if fetched else None,
        "network_requests": _network(url, end) if fetched and request.network_capture else None,
        "body_url": None,
    }
    if guidance is not None:
        response["guidance"] = guidance
    return response


def _screenshot(url: str) -> str:
    return base64.b64encode(b"\x89PNG\r\n\x1a\n" + _url_digest(url).encode()).decode("ascii")


def _network(url: str, end: Settlement) -> list[dict[str, Any]]:
    return [
        {
            "url": url,
            "method": "GET",
            "status": end.status_code,
            "type": "document",
            "body": None,
            "body_truncated": False,
            "body_error": None,
        }
    ]


def guidance(end: Settlement, credits: int) -> dict[str, Any]:
    """`guidance` of a sync scrape (docs/api-notes.md#request-fields-and-sync-scrape); a failed fetch
    charges nothing and says why."""
    error = end.error_type
    steps: list[str] = []
    suggested: dict[str, Any] | None = None
    if error in ("captcha", "blocked") or error == "http_403":
        steps = ["Retry with retry_on_block=true", "Try browser=true with a country proxy"]
        suggested = {"retry_on_block": True, "browser": True}
    elif error == "worker_timeout":
        steps = ["Retry later; the target did not answer within the worker timeout"]
    elif error is not None:
        steps = ["Check the URL and retry later"]
    return {
        "success": error is None,
        "error_type": error,
        "error_provider": None if error is None else ("worker" if error.startswith("worker") else "target"),
        "credits_charged": credits,
        "credits_refunded": error is not None,
        "next_steps": steps,
        "suggested_request": suggested,
        "stop_reason": None,
    }
