"""Seeded fault injection; the profile format is in docs/sandbox.md#s2-fault-profile.

One seeded draw per request decides at most one fault, so the same seed and the same request
sequence give the same faults. Scripted one-shot faults are consumed before any probabilistic rule.
The `lost_after_commit*` faults only exist on the three committing POSTs; elsewhere they neither
fire nor consume a scripted count, so `script_fault("*", "lost_after_commit")` waits for a commit.

Run fates (`runs.fail` / `runs.cancel`) use their own seeded stream, so adding a request does not
shift which runs fail.

`webhooks.lost_ack: N` makes the webhook pump treat the first N attempts of every delivery as
unanswered even when the receiver answered 2xx (the answer was "lost"), so a receiver sees the same
delivery N + 1 times, spaced by the retry ladder: the redelivery a receiver must deduplicate.

`link_mbps` caps the speed of `/v1` response bodies per connection (the server paces them); set in
a profile it overrides the `--link-mbps` of the config until a profile without it replaces it, so a
rehearsal can slow the link down mid-run without a restart.
"""

from __future__ import annotations

import fnmatch
import json
import math
import random
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..client.models import RunStatus

FAULTS = ("error_5xx", "rate_429", "drop", "lost_after_commit", "lost_after_commit_5xx")
COMMIT_ROUTES = frozenset(
    {"POST /v1/async/collections", "POST /v1/async/collections/{cid}/run", "POST /v1/sync/scrape"}
)
_RULE_NUMBERS = ("latency_ms", "jitter_ms", "retry_after")
_5XX = (500, 502, 503, 504)
_MAX_ATTEMPTS = 6  # 1 + the 5 retries of the webhook ladder (webhooks.LADDER_S)


@dataclass(frozen=True)
class FaultRule:
    match: str
    rates: dict[str, float]
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    retry_after: int = 1

    def to_json(self) -> dict[str, Any]:
        extra = {"latency_ms": self.latency_ms, "jitter_ms": self.jitter_ms, "retry_after": self.retry_after}
        return {"match": self.match, **self.rates, **extra}


@dataclass(frozen=True)
class FaultProfile:
    seed: int = 0
    rules: tuple[FaultRule, ...] = ()
    runs: dict[str, float] = field(
        default_factory=lambda: {"fail": 0.0, "cancel": 0.0, "seeding_window_s": 0.0}
    )
    webhook_lost_ack: int = 0
    link_mbps: float | None = None  # None: the config's link_mbps applies

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "rules": [r.to_json() for r in self.rules],
            "runs": dict(self.runs),
            "webhooks": {"lost_ack": self.webhook_lost_ack},
            "link_mbps": self.link_mbps,
        }


def _profile_number(where: str, value: Any, low: float, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
        raise ValueError(f"{where}: must be a number >= {low:g}")
    if high is not None and value > high:
        raise ValueError(f"{where}: must be <= {high:g}")
    return float(value)


def parse_profile(raw: Any, default_seed: int = 0) -> FaultProfile:
    """Validate a profile; ValueError names the offending key (answered as 422 by the control API)."""
    if not isinstance(raw, dict):
        raise ValueError(
            "fault profile must be a JSON object with 'seed', 'rules', 'runs', 'webhooks' and 'link_mbps'"
        )
    unknown = set(raw) - {"seed", "rules", "runs", "webhooks", "link_mbps"}
    if unknown:
        raise ValueError(
            f"{sorted(unknown)[0]}: unknown key; expected seed, rules, runs, webhooks, link_mbps"
        )
    seed = raw.get("seed", default_seed)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError("seed: must be an integer")
    raw_rules = raw.get("rules") or []
    if not isinstance(raw_rules, list):
        raise ValueError("rules: must be an array of {match, <fault>: probability, ...} objects")
    rules: list[FaultRule] = []
    for i, entry in enumerate(raw_rules):
        if not isinstance(entry, dict) or not isinstance(entry.get("match"), str):
            raise ValueError(f"rules[{i}].match: required string (a glob over the route template)")
        rates: dict[str, float] = {}
        numbers: dict[str, float] = {}
        for key, value in entry.items():
            if key == "match":
                continue
            if key in FAULTS:
                rates[key] = _profile_number(f"rules[{i}].{key}", value, 0.0, 1.0)
            elif key in _RULE_NUMBERS:
                numbers[key] = _profile_number(f"rules[{i}].{key}", value, 0.0)
            else:
                raise ValueError(f"rules[{i}].{key}: unknown key; known: {', '.join(FAULTS + _RULE_NUMBERS)}")
        if sum(rates.values()) > 1.0 + 1e-9:
            raise ValueError(f"rules[{i}]: fault probabilities add up to more than 1")
        retry_after = max(1, int(numbers.pop("retry_after", 1)))
        rules.append(FaultRule(entry["match"], rates, retry_after=retry_after, **numbers))
    runs_raw = raw.get("runs") or {}
    if not isinstance(runs_raw, dict):
        raise ValueError("runs: must be an object {fail, cancel, seeding_window_s}")
    runs = {"fail": 0.0, "cancel": 0.0, "seeding_window_s": 0.0}
    for key, value in runs_raw.items():
        if key not in runs:
            raise ValueError(f"runs.{key}: unknown key; expected fail, cancel, seeding_window_s")
        runs[key] = _profile_number(f"runs.{key}", value, 0.0, None if key == "seeding_window_s" else 1.0)
    if runs["fail"] + runs["cancel"] > 1.0 + 1e-9:
        raise ValueError("runs: fail + cancel add up to more than 1")
    lost_ack = _lost_ack(raw.get("webhooks") or {})
    return FaultProfile(seed, tuple(rules), runs, lost_ack, _link_mbps(raw.get("link_mbps")))


def _link_mbps(value: Any) -> float | None:
    if value is None:
        return None
    # `not value > 0` also refuses NaN; infinity would read as a cap that never paces anything.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or math.isinf(value):
        raise ValueError("link_mbps: must be a number > 0 (megabits per second), or null for the config's")
    return float(value)


def _lost_ack(raw: Any) -> int:
    if not isinstance(raw, dict):
        raise ValueError("webhooks: must be an object {lost_ack}")
    unknown = set(raw) - {"lost_ack"}
    if unknown:
        raise ValueError(f"webhooks.{sorted(unknown)[0]}: unknown key; expected lost_ack")
    value = raw.get("lost_ack", 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_ATTEMPTS - 1:
        raise ValueError(f"webhooks.lost_ack: must be an integer from 0 to {_MAX_ATTEMPTS - 1}")
    return value


def load_profile(path: str | None, default_seed: int) -> FaultProfile:
    if path is None:
        return FaultProfile(seed=default_seed)
    try:
        return parse_profile(json.loads(Path(path).read_text()), default_seed)
    except ValueError as exc:
        raise ValueError(f"fault profile {path}: {exc}") from None


@dataclass(frozen=True)
class FaultDecision:
    fault: str | None = None
    status: int | None = None  # the answer of error_5xx / rate_429 / lost_after_commit_5xx
    retry_after: int = 1
    delay_s: float = 0.0


NO_FAULT = FaultDecision()


def _applies(fault: str, route: str) -> bool:
    return not fault.startswith("lost_after_commit") or route in COMMIT_ROUTES


class Faults:
    """The live profile plus scripted faults; its own lock (requests decide before the engine lock)."""

    def __init__(self, startup: FaultProfile, link_mbps: float | None = None) -> None:
        self._startup = startup
        self._config_link_mbps = link_mbps
        self._lock = threading.Lock()
        self.set(startup)

    def reset(self) -> None:
        self.set(self._startup)

    def set(self, profile: FaultProfile) -> None:
        with self._lock:
            self.profile = profile
            self._rng = random.Random(profile.seed)
            self._run_rng = random.Random(f"{profile.seed}:runs")
            self._scripted: list[list[Any]] = []

    def script(self, match: str, fault: str, count: int) -> None:
        if fault not in FAULTS:
            raise ValueError(f"fault: unknown fault '{fault}'; known: {', '.join(FAULTS)}")
        if count < 1:
            raise ValueError("count: must be >= 1")
        with self._lock:
            self._scripted.append([match, fault, count])

    def scripted(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"match": m, "fault": f, "count": c} for m, f, c in self._scripted]

    def decide(self, route: str) -> FaultDecision:
        with self._lock:
            for entry in self._scripted:
                match, fault, _ = entry
                if fnmatch.fnmatchcase(route, match) and _applies(fault, route):
                    entry[2] -= 1
                    if entry[2] == 0:
                        self._scripted.remove(entry)
                    return self._materialise(fault, FaultRule(match, {}), 0.0)
            rule = next((r for r in self.profile.rules if fnmatch.fnmatchcase(route, r.match)), None)
            if rule is None:
                return NO_FAULT
            draw = self._rng.random()
            delay = rule.latency_ms + (self._rng.uniform(0, rule.jitter_ms) if rule.jitter_ms else 0.0)
            chosen: str | None = None
            for name in FAULTS:
                rate = rule.rates.get(name, 0.0)
                if draw < rate:
                    chosen = name
                    break
                draw -= rate
            if chosen is None or not _applies(chosen, route):
                return FaultDecision(delay_s=delay / 1000.0) if delay else NO_FAULT
            return self._materialise(chosen, rule, delay / 1000.0)

    def _materialise(self, fault: str, rule: FaultRule, delay_s: float) -> FaultDecision:
        status = {"error_5xx": None, "rate_429": 429, "lost_after_commit_5xx": 502}.get(fault)
        if fault == "error_5xx":
            status = self._rng.choice(_5XX)
        return FaultDecision(fault, status, rule.retry_after, delay_s)

    def run_fate(self) -> str | None:
        """The terminal status a new run is fated to (runs.fail / runs.cancel), or None."""
        with self._lock:
            fail, cancel = self.profile.runs["fail"], self.profile.runs["cancel"]
            if not fail and not cancel:
                return None
            draw = self._run_rng.random()
            if draw < fail:
                return RunStatus.FAILED.value
            return RunStatus.CANCELLED.value if draw < fail + cancel else None

    @property
    def webhook_lost_ack(self) -> int:
        """How many first attempts of each webhook delivery count as unanswered whatever the answer."""
        return self.profile.webhook_lost_ack

    @property
    def link_mbps(self) -> float | None:
        """The per-connection cap in force: the profile's while it sets one, else the config's.

        Read without the lock: `set` swaps `profile` in one assignment, so a reader sees either
        profile whole, and a response paces at the cap it started with."""
        profile_cap = self.profile.link_mbps
        return self._config_link_mbps if profile_cap is None else profile_cap

    @property
    def seeding_window_s(self) -> float:
        return self.profile.runs["seeding_window_s"]
