"""Retry decisions: a pure function of (request safety, attempt, outcome) -> what to do next.

Why a pure function: every rule about duplicates lives here, once, and is tested without sockets.
The core (client.py) feeds it the outcome of each attempt; transports never decide anything.

Rules (docs/api-notes.md#errors, #collections-and-idempotency, #runs):

* **Idempotent** requests (GET/PUT/DELETE, POST /collections with its Idempotency-Key, sync scrape)
  are retried on connection errors, timeouts, dropped connections, 429 and 5xx.
* **POST …/run** is not idempotent. A failure that may have reached the server (timeout, dropped
  connection after sending, 5xx) is *ambiguous*: the answer is RECONCILE (look the run up), never a
  blind re-send. 429 and connect-before-send errors prove nothing happened: plain RETRY.
* Other non-idempotent requests are retried only when nothing can have happened.
* A quota 429 is never retried (waiting minutes will not bring credits back).
* `Retry-After` is honoured (never retry sooner) up to `retry_after_cap`; past the cap we give up at
  once and the error says how long the server asked to wait, rather than block a worker for long.
* Delays otherwise are jittered exponential backoff ("equal jitter": half fixed, half random).
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime


class Safety(str, enum.Enum):
    IDEMPOTENT = "idempotent"
    CREATE_RUN = "create_run"
    UNSAFE = "unsafe"


class AttemptAction(str, enum.Enum):
    DONE = "done"  # success: parse the answer
    RETRY = "retry"  # sleep `delay`, send again
    RECONCILE = "reconcile"  # sleep `delay`, then find out whether the attempt took effect
    GIVE_UP = "give_up"  # raise the mapped error


class Failure(str, enum.Enum):
    CONNECT = "connect"  # no connection was made: the request never left
    TIMEOUT = "timeout"  # sent, no answer in time
    DROPPED = "dropped"  # sent (or maybe sent), connection closed without an answer


@dataclass(frozen=True)
class AttemptOutcome:
    """What one attempt produced: an HTTP status, or a transport failure (status None)."""

    status: int | None = None
    retry_after: float | None = None
    quota: bool = False
    failure: Failure | None = None

    @property
    def ambiguous(self) -> bool:
        """May the server have applied the request although we got no usable answer?"""
        if self.failure is not None:
            return self.failure is not Failure.CONNECT
        return self.status is not None and (self.status >= 500 or self.status == 408)


@dataclass(frozen=True)
class RetrySettings:
    # 10 retries: at a 32 % transient failure rate (a badly degraded API) a call still fails only
    # once in ~3 million; with the 30 s cap the worst case waits about 2.5 minutes, fine for a task.
    max_retries: int = 10
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    retry_after_cap: float = 120.0  # longer than one 60 s rate window: a full wait is honoured


@dataclass(frozen=True)
class AttemptDecision:
    action: AttemptAction
    delay: float = 0.0
    reason: str = ""


def safety_for(method: str, path: str, has_idempotency_key: bool) -> Safety:
    method = method.upper()
    if method in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS"):
        return Safety.IDEMPOTENT
    if path.endswith("/run"):
        return Safety.CREATE_RUN
    # A sync scrape creates nothing; a re-send after a lost answer can at worst be charged twice.
    if has_idempotency_key or path == "/v1/sync/scrape":
        return Safety.IDEMPOTENT
    return Safety.UNSAFE


def backoff_delay(attempt: int, settings: RetrySettings, rand: float) -> float:
    """Delay after failed attempt number `attempt` (0-based); `rand` in [0, 1)."""
    ceiling = min(settings.backoff_cap, settings.backoff_base * (2.0**attempt))
    return ceiling * (0.5 + 0.5 * rand)


def decide(
    safety: Safety,
    attempt: int,
    outcome: AttemptOutcome,
    settings: RetrySettings,
    rand: float | None = None,
) -> AttemptDecision:
    """`attempt` is the 0-based number of the attempt that produced `outcome`."""
    if outcome.failure is None and outcome.status is not None and outcome.status < 400:
        return AttemptDecision(AttemptAction.DONE)
    r = random.random() if rand is None else rand
    rate_limited = outcome.status == 429
    if rate_limited and outcome.quota:
        return AttemptDecision(AttemptAction.GIVE_UP, reason="quota exhausted")
    retryable = (
        rate_limited
        or outcome.failure is Failure.CONNECT
        or (outcome.ambiguous and safety is not Safety.UNSAFE)
    )
    if not retryable:
        return AttemptDecision(AttemptAction.GIVE_UP, reason="not retryable")
    if attempt >= settings.max_retries:
        return AttemptDecision(AttemptAction.GIVE_UP, reason=f"gave up after {attempt + 1} attempts")
    if outcome.retry_after is not None and outcome.retry_after > 0:
        if outcome.retry_after > settings.retry_after_cap:
            return AttemptDecision(
                AttemptAction.GIVE_UP,
                reason=f"server asked to wait {outcome.retry_after:g} s, over the "
                f"{settings.retry_after_cap:g} s cap",
            )
        # Never earlier than asked; up to 20 % later so waiters do not return in lockstep.
        delay = outcome.retry_after + r  # bounded jitter: a 50 s wait must not become 60 s
    else:
        delay = backoff_delay(attempt, settings, r)
    if safety is Safety.CREATE_RUN and outcome.ambiguous:
        return AttemptDecision(
            AttemptAction.RECONCILE, delay, reason="ambiguous failure of a non-idempotent POST"
        )
    return AttemptDecision(AttemptAction.RETRY, delay, reason="transient")


def parse_retry_after(value: str | None, now: float) -> float | None:
    """`Retry-After` as seconds from `now` (epoch s): delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now)


def http_date_epoch(value: str | None) -> float | None:
    """An HTTP `Date` header as epoch seconds (used to estimate the server's clock)."""
    if not value:
        return None
    try:
        when: datetime = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()
