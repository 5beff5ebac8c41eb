"""Tokens, plans and monthly credits (docs/api-notes.md#rate-limits-quota-and-credits,
docs/sandbox.md#s3-token-plans).

One token is one account (`client_id` is derived from the token by hashing, so it never reveals
it). Plans are the API's plan table; a token's settings start from its plan and may override any
limit.
Credits reset when the sandbox clock enters a new UTC month, checked lazily on every access, so an
advance across a month boundary rolls the usage over without a timer.

Tokens never appear in full outside this module's `Account.token`: logs, stats and control answers
use `mask()`.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

DEMO_TOKEN = "demo_6x595maoA6GdOdVb"
DEV_TOKEN = "sp_sandbox_dev"
ANY_TOKEN_PLAN = "enterprise"  # --accept-any-token: unknown tokens behave like the dev token


@dataclass(frozen=True)
class Plan:
    name: str
    display_name: str
    credits_monthly: int | None  # None = unlimited
    requests_per_minute: int
    max_concurrent_jobs: int


PLANS: dict[str, Plan] = {
    p.name: p
    for p in (
        Plan("demo", "Demo", 5_000, 30, 5),
        Plan("free", "Free", 1_000, 30, 5),
        Plan("starter", "Starter", 25_000, 30, 10),
        Plan("growth", "Growth", 100_000, 60, 20),
        Plan("pro", "Pro", 500_000, 120, 50),
        Plan("scale", "Scale", 2_500_000, 200, 100),
        Plan("enterprise", "Enterprise", None, 2_000, 100),
    )
}
DEFAULT_TOKENS: dict[str, dict[str, Any]] = {DEMO_TOKEN: {"plan": "demo"}, DEV_TOKEN: {"plan": "enterprise"}}
_SETTING_TYPES: dict[str, tuple[type, ...]] = {
    "requests_per_minute": (int,),
    "max_concurrent_jobs": (int,),
    "credits_monthly": (int, type(None)),
    "credits_used": (int,),
    "approved_countries": (list,),
    "rate_limit_enabled": (bool,),
}


def _checked(key: str, value: Any) -> Any:
    kinds = _SETTING_TYPES.get(key)
    if kinds is None:
        raise ValueError(f"{key}: unknown setting; known: plan, {', '.join(_SETTING_TYPES)}")
    if type(value) not in kinds:  # exact types: JSON `true` is not a number of requests
        raise ValueError(f"{key}: wrong type {type(value).__name__}")
    if key in ("requests_per_minute", "max_concurrent_jobs") and value < 1:
        raise ValueError(f"{key}: must be >= 1")
    if isinstance(value, list):  # approved_countries: ISO codes compare upper-case
        return [str(c).upper() for c in value]
    return value


def mask(token: str) -> str:
    """`sp_s…_dev`: enough to tell tokens apart in a log, never enough to use one."""
    if len(token) <= 8:
        return "…" + token[-2:] if len(token) > 4 else "…"
    return f"{token[:4]}…{token[-4:]}"


def _month(epoch: float) -> str:
    return time.strftime("%Y-%m", time.gmtime(epoch))


@dataclass
class Account:
    token: str
    plan: str = "free"
    requests_per_minute: int = 30
    max_concurrent_jobs: int = 5
    credits_monthly: int | None = 1_000
    approved_countries: list[str] = field(default_factory=list)
    rate_limit_enabled: bool = True
    credits_used: int = 0
    month: str = ""

    @property
    def client_id(self) -> str:
        return "client_" + hashlib.sha256(self.token.encode()).hexdigest()[:16]

    def roll(self, now: float) -> None:
        current = _month(now)
        if self.month != current:
            if self.month:
                self.credits_used = 0
            self.month = current

    def remaining(self, now: float) -> int | None:
        self.roll(now)
        return None if self.credits_monthly is None else max(0, self.credits_monthly - self.credits_used)

    def charge(self, credits: int, now: float) -> None:
        self.roll(now)
        self.credits_used += credits

    def quota_exceeded_detail(self) -> str:
        return f"Monthly credit quota exceeded ({self.credits_used}/{self.credits_monthly})"

    def apply(self, settings: dict[str, Any]) -> None:
        """Plan first (it resets the limits), then explicit overrides; ValueError names the key."""
        if not isinstance(settings, dict):
            raise ValueError("token settings must be a JSON object")
        if "plan" in settings:
            name = str(settings["plan"]).lower()
            plan = PLANS.get(name)
            if plan is None:
                raise ValueError(f"plan: unknown plan '{settings['plan']}'; known: {', '.join(PLANS)}")
            self.plan = name
            self.requests_per_minute = plan.requests_per_minute
            self.max_concurrent_jobs = plan.max_concurrent_jobs
            self.credits_monthly = plan.credits_monthly
        for key, value in settings.items():
            if key != "plan":
                setattr(self, key, _checked(key, value))

    def to_json(self) -> dict[str, Any]:
        return {
            "token": mask(self.token),
            "client_id": self.client_id,
            "plan": self.plan,
            "requests_per_minute": self.requests_per_minute,
            "max_concurrent_jobs": self.max_concurrent_jobs,
            "credits_monthly": self.credits_monthly,
            "credits_used": self.credits_used,
            "approved_countries": list(self.approved_countries),
            "rate_limit_enabled": self.rate_limit_enabled,
        }


def load_token_table(path: str | None) -> dict[str, dict[str, Any]]:
    """`--tokens FILE`: `{"<token>": {settings}}` or `{"tokens": {...}}`; it replaces the defaults."""
    if path is None:
        return DEFAULT_TOKENS
    data = json.loads(Path(path).read_text())
    table = data.get("tokens", data) if isinstance(data, dict) else None
    if not isinstance(table, dict):
        raise ValueError(f"{path}: expected a JSON object mapping tokens to settings")
    for token, settings in table.items():
        try:  # fail at startup, naming the file and the token, not at the first request
            Account(token).apply(settings)
        except ValueError as exc:
            raise ValueError(f"{path}: token {mask(token)}: {exc}") from None
    return table


class Accounts:
    """The token table. Not locked itself: the engine calls it under the state lock."""

    def __init__(self, startup: dict[str, dict[str, Any]], accept_any_token: bool) -> None:
        self._startup = startup
        self._accept_any = accept_any_token
        self._by_token: dict[str, Account] = {}
        self.reset()

    def reset(self) -> None:
        self._by_token = {}
        for token, settings in self._startup.items():
            self.put(token, settings)

    def get(self, token: str) -> Account | None:
        account = self._by_token.get(token)
        if account is None and self._accept_any and token:
            account = self.put(token, {"plan": ANY_TOKEN_PLAN})
        return account

    def known(self, token: str) -> Account | None:
        return self._by_token.get(token)

    def put(self, token: str, settings: dict[str, Any]) -> Account:
        """Create or update. Settings are tried on a copy first, so a rejected PUT changes nothing,
        and then copied onto the existing object, so references held elsewhere stay current."""
        base = self._by_token.get(token)
        candidate = Account(token) if base is None else replace(base)
        if base is None and "plan" not in settings:
            settings = {"plan": "free", **settings}
        candidate.apply(settings)
        if base is None:
            self._by_token[token] = candidate
            return candidate
        vars(base).update(vars(candidate))
        return base
