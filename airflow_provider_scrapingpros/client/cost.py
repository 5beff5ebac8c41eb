"""What a run costs, in credits: the price list, the estimate before a run, the figure after it, and
the account's quota as the API's headers state it (docs/cost.md).

The price is per *successful* job: 1 credit, 5 with `browser`; a job that is not a success is
refunded (`retry_on_block` retries are free, only the success is charged). So the most a run can
cost is the sum of its accepted requests' prices, and what it did cost is its successes x their price.

The API cannot list a collection's requests back, so the mix of plain and browser requests is only
known to whoever submitted them: the collection operators, from what they sent minus what the API
rejected (`estimate_accepted`). Without that, a run's size alone bounds its cost between 1 and 5
credits a request (`CostEstimate.unknown_mix`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .models import NewCollectionResponse, ScrapeRequest

PLAIN_CREDITS = 1
BROWSER_CREDITS = 5

EstimateSource = Literal["submitted", "given", "run_size"]


def credit_cost(request: ScrapeRequest) -> int:
    """Credits a successful fetch costs: a browser render is priced at five plain fetches."""
    return BROWSER_CREDITS if request.browser else PLAIN_CREDITS


class CostEstimate(BaseModel):
    """The most a run of a collection can cost, and what is known of its request mix.

    `browser_requests` is None when the mix is unknown; the estimate is then 5 credits a request.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    collection_id: str
    requests: int
    browser_requests: int | None
    estimated_credits: int
    source: EstimateSource

    @classmethod
    def of_mix(cls, collection_id: str, requests: int, browser: int, source: EstimateSource) -> CostEstimate:
        credits = (requests - browser) * PLAIN_CREDITS + browser * BROWSER_CREDITS
        return cls(
            collection_id=collection_id,
            requests=requests,
            browser_requests=browser,
            estimated_credits=credits,
            source=source,
        )

    @classmethod
    def unknown_mix(cls, collection_id: str, requests: int) -> CostEstimate:
        return cls(
            collection_id=collection_id,
            requests=requests,
            browser_requests=None,
            estimated_credits=requests * BROWSER_CREDITS,
            source="run_size",
        )

    @classmethod
    def given(cls, collection_id: str, credits: int, requests: int = 0) -> CostEstimate:
        """The task's own `estimated_credits`: trusted as the maximum, the mix stays unknown."""
        return cls(
            collection_id=collection_id,
            requests=requests,
            browser_requests=None,
            estimated_credits=credits,
            source="given",
        )

    def report(self, successes: int | None) -> CostReport:
        """The estimate and, once the run ended (`successes` known), the credits its jobs were charged.

        Charged = successes x their price. Exact when every request has one price; with a mix (or an
        unknown one) counters do not say which requests succeeded, so `credits_used` is None and
        `credits_used_range` is the range the charge must lie in.
        """
        if successes is None:
            return CostReport(estimated_credits=self.estimated_credits, estimate_source=self.source)
        browser = self.browser_requests
        most_browser = successes if browser is None else min(successes, browser)
        least_browser = 0 if browser is None else max(0, successes - (self.requests - browser))
        extra = BROWSER_CREDITS - PLAIN_CREDITS
        low = successes * PLAIN_CREDITS + least_browser * extra
        high = successes * PLAIN_CREDITS + most_browser * extra
        return CostReport(
            estimated_credits=self.estimated_credits,
            estimate_source=self.source,
            credits_used=low if low == high else None,
            credits_used_range=(low, high),
        )


class CostReport(BaseModel):
    """What the run operator returns and `_SUCCESS.json` records about credits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    estimated_credits: int
    estimate_source: EstimateSource
    credits_used: int | None = None
    credits_used_range: tuple[int, int] | None = None


def estimate_accepted(
    collection_id: str, submitted: Sequence[ScrapeRequest], response: NewCollectionResponse
) -> CostEstimate:
    """The collection's accepted requests, replayed from what was sent and what the API rejected.

    Blocked and invalid items are named by index; skipped duplicates only by URL, so they are dropped
    the way the API drops them: a later item with the same (URL, custom_id) as an accepted one. When the
    replay does not match the API's count, fall back to the safe side: every request not rejected by
    index, duplicates included, which can only overestimate.
    """
    rejected = {item.index for item in response.blocked_urls} | {
        item.index for item in response.invalid_items
    }
    kept = [r for i, r in enumerate(submitted) if i not in rejected]
    seen: set[tuple[str, str | None]] = set()
    accepted: list[ScrapeRequest] = []
    for request in kept:
        key = (request.url.strip(), request.custom_id)
        if key not in seen:
            seen.add(key)
            accepted.append(request)
    if len(accepted) != len(submitted) - response.rejected:
        accepted = kept
    browser = sum(1 for r in accepted if r.browser)
    return CostEstimate.of_mix(collection_id, len(accepted), browser, "submitted")


class Quota(BaseModel):
    """The account's monthly credits from `X-Quota-*` headers; `remaining` None means unlimited."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: int | None
    used: int | None
    remaining: int | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Quota | None:
        """None when the answer carried no quota headers (nothing can be said about credits)."""
        raw = headers.get("x-quota-remaining")
        if raw is None:
            return None
        unlimited = raw.strip().lower() == "unlimited"
        remaining = None if unlimited else _int(raw)
        if remaining is None and not unlimited:
            return None  # unreadable: say nothing rather than read it as "unlimited"
        return cls(
            limit=None if unlimited else _int(headers.get("x-quota-limit")),
            used=_int(headers.get("x-quota-used")),
            remaining=remaining,
        )

    @property
    def unlimited(self) -> bool:
        return self.remaining is None


def _int(raw: str | None) -> int | None:
    try:
        return None if raw is None else int(float(raw))
    except ValueError:
        return None
