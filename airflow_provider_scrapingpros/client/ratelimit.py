"""Client-side rate budget per API token, shared by every hook instance in the process.

Why: many tasks or triggers in one worker/triggerer process share a token; without a common view of
`X-RateLimit-Remaining` they would all run into 429s at the same moment and back off in a herd.

Design:

* One `RateBudget` per (base URL, token), kept in a process-wide registry keyed by a hash (the
  token itself is never stored as a key or shown in a repr).
* Fed only by the server's headers
  (docs/api-notes.md#rate-limits-quota-and-credits): `X-RateLimit-Limit`, `-Remaining`, `-Reset` (whole
  seconds until the fixed window ends). Until the first answer it knows nothing and allows all.
* `reserve()` is arithmetic under a `threading.Lock` and returns how long the caller must wait; it
  never sleeps. The caller sleeps (`time.sleep` in the sync transport, `await asyncio.sleep` in the
  async one) and asks again, so the lock is never held across I/O and the event loop never blocks.
* A refused caller is told to come back at a slot of its own in the next window, one slot per
  `window / limit` seconds (30 ms at 2,000/min): the waiters re-arrive at the pace the budget
  sustains, not in a herd at the roll-over. Within a few seconds of a random spread, 1,000 triggers
  each reconnecting (a minute's wait outlives keep-alive) kept the triggerer's loop busy for 2 s in
  100-200 ms iterations, and what they allocated at once set off gen-2 collections of 65 ms inside
  trigger steps (bench/triggerer.py --debug). The first waiter's slot is the window's end itself.
* `keep` (the connection's `rate_limit_reserve`) leaves that many requests of each window unused
  by this process. Other processes on the same token see the server's count only after their next
  answer, so each of them may send one request on a stale view; keeping one request per other
  process sharing the token makes those land inside the plan instead of on a 429.
* Requests in flight are counted: an answer's `Remaining` does not yet include requests sent after
  it left the server, so within one window we keep the lower of our estimate and the server's.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping

# The window length is not announced, only the time left; the sandbox and the API use 60 s windows.
_ASSUMED_WINDOW_S = 60.0
# Slots fill at most the first half of the next window, then the next waiters share them (two per
# slot, and so on): a wait stays under window + half a window + margin (91 s), below the default
# `retry_after_cap` (120 s) past which a caller gives up instead of waiting. A caller with a
# shorter cap is never booked beyond it (`reserve(max_wait=...)`).
_MAX_SPREAD_FRACTION = 0.5
# Slot spacing while the limit is unknown (an answer with Remaining/Reset but no Limit).
_FALLBACK_SPACING_S = 0.01
# `X-RateLimit-Reset` is in whole seconds: wait a little past it so the server's window has rolled.
_RESET_MARGIN_S = 1.0


def _int(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return int(float(raw))
    except ValueError:
        return None


class RateBudget:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.limit: int | None = None
        self.remaining: int | None = None
        self.window_end: float = 0.0  # monotonic
        self.in_flight = 0
        self.next_slot: float = 0.0  # monotonic: when the next refused caller should come back

    def __repr__(self) -> str:
        return f"RateBudget(limit={self.limit}, remaining={self.remaining}, in_flight={self.in_flight})"

    def reserve(self, now: float | None = None, *, max_wait: float = float("inf"), keep: int = 0) -> float:
        """Take one request slot and return 0, or return the seconds to wait before asking again.

        `max_wait`: the longest wait the caller accepts (its `retry_after_cap`, or the time left to
        its deadline). Spreading never pushes a caller past it: when the next free slot is too late,
        the caller is told the roll-over itself (sharing the first slot) and books nothing; if even
        that is too late, the caller gives up with the true wait in its message. `keep`: requests of
        the window this caller leaves to other processes (never the whole window).
        """
        now = time.monotonic() if now is None else now
        with self._lock:
            if self.remaining is not None and now >= self.window_end:
                # The window rolled over: the budget is full again (the next answer corrects us).
                self.remaining = self.limit
                self.window_end = now + _ASSUMED_WINDOW_S
            if self.limit:
                keep = min(keep, self.limit - 1)
            if self.remaining is None or self.remaining > keep:
                if self.remaining is not None:
                    self.remaining -= 1
                self.in_flight += 1
                return 0.0
            # Book the next free slot. Absolute times, not an index from `window_end`: each answer
            # moves that estimate by up to a second (Reset is in whole seconds), and slots counted
            # from a moving origin would land on top of each other.
            spacing = _ASSUMED_WINDOW_S / self.limit if self.limit else _FALLBACK_SPACING_S
            slot = max(self.next_slot, self.window_end)
            if slot >= self.window_end + _ASSUMED_WINDOW_S * _MAX_SPREAD_FRACTION:
                slot = self.window_end
            if slot - now > max_wait:  # not booked: the next waiter keeps the slot
                return max(0.0, self.window_end - now)
            self.next_slot = slot + spacing
            return max(0.0, slot - now)

    def observe(self, headers: Mapping[str, str] | None, now: float | None = None) -> None:
        """Feed one answer's headers (lower-case names); `None` = the request got no answer."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self.in_flight = max(0, self.in_flight - 1)
            if not headers:
                return
            limit = _int(headers, "x-ratelimit-limit")
            remaining = _int(headers, "x-ratelimit-remaining")
            reset = _int(headers, "x-ratelimit-reset")
            if limit is not None:
                self.limit = limit
            if remaining is None or reset is None:
                return
            end = now + reset + _RESET_MARGIN_S
            if self.remaining is None or end > self.window_end + 1.5:
                # A new window: the server's count is fresh, minus what we have sent since.
                self.remaining = max(0, remaining - self.in_flight)
                self.window_end = end
            else:
                self.remaining = min(self.remaining, remaining)
                # Every estimate is at or after the true end (Reset rounded + margin), so the earliest
                # is the best one. Never later: a waiter that comes back at its booked slot would
                # be refused again and booked behind all the others.
                self.window_end = min(self.window_end, end)


_REGISTRY: dict[str, RateBudget] = {}
_REGISTRY_LOCK = threading.Lock()


def budget_key(base_url: str, token: str) -> str:
    return hashlib.sha256(f"{base_url}\0{token}".encode()).hexdigest()[:16]


def budget_for(base_url: str, token: str) -> RateBudget:
    """The process-wide budget of this token at this API (created on first use)."""
    return budget_for_key(budget_key(base_url, token))


def budget_for_key(key: str) -> RateBudget:
    with _REGISTRY_LOCK:
        budget = _REGISTRY.get(key)
        if budget is None:
            budget = _REGISTRY[key] = RateBudget()
        return budget


def reset_budgets() -> None:
    """Forget every budget (tests that reset the server's windows; a plan change in a long process)."""
    with _REGISTRY_LOCK:
        _REGISTRY.clear()
