"""What happens when the sandbox "fetches" a URL (docs/sandbox.md#s1-outcome-rules): hints, rules,
settlement.

A `TargetOutcome` is the declared behaviour of a target: query hints in the URL (`sp_status=404`,
`sp_latency_ms=900`...) overlay the first matching sandbox rule, so hints win. `settle()` turns an
outcome plus the request options into the end of one fetch: job status, target status code, error
message, duration, retries. It is a pure function of its inputs (same seed, config and requests ⇒
same outcomes); bodies are derived later from the URL (results.py).

Precedence of hints: timeout > fail > lost > block > status. A latency above the worker timeout is
a timeout too, ending at exactly `started_at + worker_timeout`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..client.models import JobStatus

# retry_on_block: the server retries at most 3 times (docs/api-notes.md#request-fields-and-sync-scrape)
MAX_BLOCK_RETRIES = 3


@dataclass(frozen=True)
class TargetOutcome:
    status: int = 200
    captcha: bool = False
    block: str | None = None
    fail: str | None = None
    timeout: bool = False
    latency_ms: int | None = None
    bytes: int | None = None
    lost: bool = False
    block_attempts: int = 0
    browser_only: bool = False
    binary: str | None = None
    extractable: bool = False
    blocked: bool = False


_TYPES: dict[str, type] = {
    "status": int, "captcha": bool, "block": str, "fail": str, "timeout": bool, "latency_ms": int,
    "bytes": int, "lost": bool, "block_attempts": int, "browser_only": bool, "binary": str,
    "extractable": bool, "blocked": bool,
}  # fmt: skip
_HINTS = {f"sp_{name}": name for name in _TYPES if name != "blocked"}


def _hint_value(kind: type, raw: str) -> Any:
    if kind is bool:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if kind is int:
        return max(0, int(raw))  # ValueError: the hint is ignored, like any unknown query key
    return raw


def hints(url: str) -> dict[str, Any]:
    """Outcome fields declared in the URL's query string (`sp_*` keys)."""
    query = urlsplit(url).query
    if "sp_" not in query:
        return {}
    found: dict[str, Any] = {}
    for key, raw in parse_qsl(query, keep_blank_values=True):
        name = _HINTS.get(key)
        if name is None:
            continue
        try:
            found[name] = _hint_value(_TYPES[name], raw)
        except ValueError:
            continue
    return found


@dataclass(frozen=True)
class Rule:
    match: str
    outcome: Mapping[str, Any]
    _regex: re.Pattern[str] = field(repr=False, compare=False)

    def matches(self, url: str) -> bool:
        return self._regex.search(url) is not None

    def to_json(self) -> dict[str, Any]:
        return {"match": self.match, "outcome": dict(self.outcome)}


def parse_rules(raw: Any) -> list[Rule]:
    """Validate `PUT /_sandbox/rules`; ValueError names the offending entry and key."""
    if not isinstance(raw, list):
        raise ValueError("rules must be a JSON array of {match, outcome} objects")
    rules: list[Rule] = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict) or not isinstance(entry.get("match"), str):
            raise ValueError(f"rules[{i}].match: required string (a glob, or 're:<regex>')")
        outcome = entry.get("outcome", {})
        if not isinstance(outcome, dict):
            raise ValueError(f"rules[{i}].outcome: must be an object")
        for key, value in outcome.items():
            kind = _TYPES.get(key)
            if kind is None:
                raise ValueError(f"rules[{i}].outcome.{key}: unknown key; known: {', '.join(sorted(_TYPES))}")
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ValueError(f"rules[{i}].outcome.{key}: must be of type {kind.__name__}")
        pattern = entry["match"]
        try:
            regex = re.compile(pattern[3:] if pattern.startswith("re:") else fnmatch.translate(pattern))
        except re.error as exc:
            raise ValueError(f"rules[{i}].match: invalid regular expression ({exc})") from None
        rules.append(Rule(pattern, dict(outcome), regex))
    return rules


def outcome_for(url: str, rules: list[Rule]) -> TargetOutcome:
    declared: dict[str, Any] = {}
    for rule in rules:
        if rule.matches(url):
            declared.update(rule.outcome)
            break
    declared.update(hints(url))
    return replace(_DEFAULT, **declared) if declared else _DEFAULT


_DEFAULT = TargetOutcome()


@dataclass(frozen=True)
class Settlement:
    """The end of one fetch, in sandbox seconds; `status` is a terminal `JobStatus` value."""

    status: str
    duration: float
    status_code: int | None = None
    message: str | None = None
    block_reason: str | None = None
    captcha: bool = False
    retries: int = 0
    lost: bool = False
    protection_stack: tuple[str, ...] = ()

    @property
    def is_success(self) -> bool:
        """content_success_v1 (docs/api-notes.md#counters-and-invariants)."""
        return (
            self.status == JobStatus.COMPLETED
            and self.status_code is not None
            and 200 <= self.status_code < 300
            and not self.captcha
            and self.block_reason in (None, "none")
        )

    @property
    def error_type(self) -> str | None:
        """The sync scrape's `guidance.error_type` (docs/api-notes.md#request-fields-and-sync-scrape)."""
        if self.is_success:
            return None
        if self.status == JobStatus.TIMEOUT:
            return "worker_timeout"
        if self.status == JobStatus.FAILED:
            return "worker_error"
        if self.captcha:
            return "captcha"
        if self.block_reason not in (None, "none"):
            return "blocked"
        return f"http_{self.status_code}"


def settle(
    outcome: TargetOutcome,
    *,
    retry_on_block: bool,
    browser: bool = False,
    default_latency_ms: int,
    time_scale: float,
    worker_timeout: float,
) -> Settlement:
    """`worker_timeout` is the configured (unscaled) value; durations come back scaled."""
    latency = (default_latency_ms if outcome.latency_ms is None else outcome.latency_ms) / 1000.0
    limit = worker_timeout * time_scale
    if outcome.timeout or latency > worker_timeout:
        return Settlement(JobStatus.TIMEOUT.value, limit, message=f"Worker timeout after {worker_timeout:g}s")
    if outcome.fail is not None:
        return Settlement(
            JobStatus.FAILED.value, latency * time_scale, message=outcome.fail or "Worker error"
        )
    status_code = outcome.status
    if outcome.lost:
        return Settlement(JobStatus.COMPLETED.value, latency * time_scale, status_code=status_code, lost=True)
    # A permanent block (captcha / sp_block) defeats every retry; `block_attempts` only the first n.
    # `browser_only`: a bot wall that only a real browser gets through, whatever the retries.
    permanent = outcome.captcha or outcome.block is not None or (outcome.browser_only and not browser)
    blocked_tries = outcome.block_attempts if not permanent else MAX_BLOCK_RETRIES + 1
    retries = min(blocked_tries, MAX_BLOCK_RETRIES) if retry_on_block else 0
    if blocked_tries > retries:
        duration = min(latency * (retries + 1), worker_timeout) * time_scale
        if outcome.block is not None and not outcome.captcha:
            code = status_code if outcome.status != 200 else 403
            return Settlement(
                JobStatus.COMPLETED.value, duration, code, f"blocked: {outcome.block}", outcome.block,
                retries=retries, protection_stack=(outcome.block,),
            )  # fmt: skip
        return Settlement(
            JobStatus.COMPLETED.value, duration, status_code, "blocked: captcha", "captcha", True, retries
        )
    duration = min(latency * (retries + 1), worker_timeout) * time_scale
    message = None if 200 <= status_code < 300 else f"http_{status_code}"
    return Settlement(JobStatus.COMPLETED.value, duration, status_code, message, retries=retries)
