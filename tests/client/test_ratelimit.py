"""The shared rate budget (client/ratelimit.py): waits, pacing and sharing per token."""

from __future__ import annotations

import bisect
from collections import Counter

from airflow_provider_scrapingpros.client.ratelimit import RateBudget, budget_for

TOKEN = "sp_unit_secret_token"


def test_rate_budget_waits_for_the_window_then_refills() -> None:
    budget = RateBudget()
    assert budget.reserve(now=0.0) == 0.0  # nothing known yet: go
    budget.observe(
        {"x-ratelimit-limit": "10", "x-ratelimit-remaining": "2", "x-ratelimit-reset": "30"}, now=0.0
    )
    assert (budget.reserve(now=1.0), budget.reserve(now=1.0)) == (0.0, 0.0)
    assert budget.reserve(now=1.0) == 30.0  # a lone waiter: until the window ends (+1 s margin), no more
    assert budget.reserve(now=31.5) == 0.0  # window rolled: full again
    assert budget.remaining == 9


def test_a_reserve_leaves_requests_of_each_window_to_other_processes() -> None:
    budget = RateBudget()
    budget.observe(
        {"x-ratelimit-limit": "10", "x-ratelimit-remaining": "4", "x-ratelimit-reset": "30"}, now=0.0
    )
    assert [budget.reserve(now=1.0, keep=2) for _ in range(3)] == [0.0, 0.0, 30.0]  # 2 of 4 kept
    assert budget.remaining == 2
    assert budget.reserve(now=1.0) == 0.0  # a caller keeping nothing may still use them
    assert budget.reserve(now=31.5, keep=50) == 0.0  # never the whole window: at most limit - 1 kept
    assert budget.remaining == 9


def _spent(limit: int, reset: int = 30) -> RateBudget:
    """A budget whose window (ending at reset + 1 s margin) has nothing left, as seen at time 0."""
    budget = RateBudget()
    budget.observe(
        {"x-ratelimit-limit": str(limit), "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
        now=0.0,
    )
    return budget


def test_refused_callers_come_back_at_the_budgets_pace_not_in_a_herd() -> None:
    # 1,000 triggers refused at once (bench/triggerer.py): at 2,000/min the window serves one request
    # per 30 ms, so no more than that may re-arrive in any slice of time, and all of them are served.
    budget, n = _spent(limit=2000), 1000
    waits = sorted(budget.reserve(now=0.5) for _ in range(n))
    end = 31.0  # reset + margin
    assert waits[0] == end - 0.5  # the first waiter loses nothing
    assert waits[-1] <= end - 0.5 + 30.0  # and the last stays well below the 120 s retry_after_cap
    for dt in (0.01, 0.1, 1.0, 5.0):
        per_slice = 2000 / 60 * dt
        busiest = max(bisect.bisect_left(waits, w + dt) - i for i, w in enumerate(waits))
        assert busiest <= per_slice + 1, (dt, busiest)
    arrivals = [0.5 + w for w in waits]
    assert all(budget.reserve(now=t) == 0.0 for t in arrivals)  # each comes back to a fresh window
    assert budget.remaining == 2000 - n


def test_waiters_beyond_half_a_window_share_slots_instead_of_waiting_longer() -> None:
    budget = _spent(limit=10)  # 6 s per slot: five slots in the first half of the next window
    waits = [budget.reserve(now=1.0) for _ in range(12)]
    assert max(waits) <= 30.0 + 30.0  # window end + half a window
    assert max(Counter(waits).values()) == 3  # 12 waiters on 5 slots


def test_a_waiter_is_never_booked_past_the_wait_it_accepts() -> None:
    # A hook with retry_after_cap=40 s must not be given up on because others were booked first:
    # the window rolls over at 31 s, within its cap, so it comes back then, not at its slot.
    budget = _spent(limit=10)  # 6 s per slot
    patient = [budget.reserve(now=1.0) for _ in range(3)]
    assert patient == [30.0, 36.0, 42.0]
    assert budget.reserve(now=1.0, max_wait=40.0) == 30.0  # the roll-over, not the 48 s slot
    assert budget.reserve(now=1.0) == 48.0  # it took no slot: the next patient waiter gets it
    assert budget.reserve(now=1.0, max_wait=20.0) == 30.0  # the roll-over is too far: the caller gives up
    assert budget.reserve(now=1.0) == 54.0  # and booked nothing either (48 s went to the waiter above)


def test_a_later_estimate_of_the_window_end_does_not_turn_a_booked_waiter_away() -> None:
    # Reset is in whole seconds, so answers in the same window disagree on its end by up to 1 s. A
    # waiter booked against the earliest estimate must find the window rolled when it comes back.
    budget = _spent(limit=100)
    wait = budget.reserve(now=0.2)
    later = {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "30"}
    budget.observe(later, now=0.9)  # an answer still in flight: its estimate ends 0.9 s later
    assert budget.reserve(now=0.2 + wait) == 0.0


def test_rate_budget_is_shared_per_token_and_hides_it() -> None:
    a = budget_for("http://unit.invalid", TOKEN)
    assert budget_for("http://unit.invalid", TOKEN) is a
    assert budget_for("http://unit.invalid", TOKEN + "x") is not a
    assert TOKEN not in repr(a)
