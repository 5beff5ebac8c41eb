"""Per-token request rate limit and its headers (docs/api-notes.md#rate-limits-quota-and-credits).

Fixed 60 s windows aligned to the minutes of the sandbox clock (not scaled by `time_scale`: a rate
is a wall-clock promise). Every authenticated `/v1` request counts, polling included; a rejected
request does not. With `rate_limit_enabled: false` requests still count (the headers stay truthful)
but are never refused, which is what benchmarks want. Called under the engine lock.
"""

from __future__ import annotations

import math

from .accounts import Account

WINDOW_S = 60.0


class RateLimiter:
    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int]] = {}

    def reset(self) -> None:
        self._windows.clear()

    def hit(self, account: Account, now: float) -> tuple[bool, dict[str, str]]:
        """Count one request; (allowed, headers). A refusal's `Retry-After` is the window's reset."""
        window = int(now // WINDOW_S)
        seen_window, count = self._windows.get(account.token, (window, 0))
        if seen_window != window:
            count = 0
        reset = max(1, math.ceil((window + 1) * WINDOW_S - now))
        limit = account.requests_per_minute
        if account.rate_limit_enabled and count >= limit:
            headers = rate_headers(limit, 0, reset)
            headers["Retry-After"] = str(reset)
            return False, headers
        count += 1
        self._windows[account.token] = (window, count)
        return True, rate_headers(limit, max(0, limit - count), reset)


def rate_headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset),
    }


def quota_headers(account: Account, now: float) -> dict[str, str]:
    """`X-Quota-Limit` is omitted on unlimited plans: it is an int header and there is no int to send."""
    remaining = account.remaining(now)
    headers = {"X-Quota-Used": str(account.credits_used)}
    if remaining is None:
        headers["X-Quota-Remaining"] = "unlimited"
    else:
        headers["X-Quota-Limit"] = str(account.credits_monthly)
        headers["X-Quota-Remaining"] = str(remaining)
    return headers
