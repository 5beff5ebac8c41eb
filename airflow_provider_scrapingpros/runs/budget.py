"""Whether a run may start, given what it can cost and what the account has left (docs/cost.md).

The API accepts a run while *any* credit is left and then runs every job of it, so the only point
where a too-expensive run can be stopped is before `POST …/run`. Two limits, both checked there and
never on a reattach (the run exists; it is paid for either way):

* `max_credits`: the task's own cap. An estimate that cannot be made fails closed — a cap that is
  not checked is not a cap.
* `require_quota`: the estimate must fit in `X-Quota-Remaining` (`unlimited` always fits). Without
  an estimate only an empty quota stops the run (as the API itself would), with a warning.
"""

from __future__ import annotations

from ..client.cost import BROWSER_CREDITS, CostEstimate, Quota
from ..exceptions import ScrapingProsCostError, ScrapingProsInputError

_SOURCES = {
    "submitted": "from the requests the collection operator submitted",
    "given": "the task's estimated_credits",
    "run_size": f"an upper bound: the mix is unknown, so {BROWSER_CREDITS} credits for each of the requests "
    "its last run had",
}
_NO_ESTIMATE = (
    "no create/update operator upstream of this task recorded the collection's requests (the API "
    "cannot list them), and the collection has no run since its last change to size it from. Create or "
    "update the collection in this DAG upstream of this task, or pass estimated_credits="
)


def check_cost_options(*, max_credits: object, estimated_credits: object) -> None:
    for name, value in (("max_credits", max_credits), ("estimated_credits", estimated_credits)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ScrapingProsInputError(
                f"{name} must be a whole number of credits >= 0, got {value!r}.",
                errors=[(name, "must be an int >= 0")],
            )


def describe(estimate: CostEstimate) -> str:
    mix = (
        f"{estimate.requests} requests, {estimate.browser_requests} with browser at {BROWSER_CREDITS} credits"
        if estimate.browser_requests is not None
        else f"{estimate.requests} requests"
    )
    return f"up to {estimate.estimated_credits} credits ({mix}; {_SOURCES[estimate.source]})"


def check_budget(
    collection_id: str,
    estimate: CostEstimate | None,
    quota: Quota | None,
    *,
    max_credits: int | None,
    require_quota: bool,
) -> list[str]:
    """Raise `ScrapingProsCostError` if the run must not start; else return warnings to log."""
    where = f"Run of collection {collection_id} not started (nothing was charged)"
    warnings: list[str] = []
    if max_credits is not None:
        if estimate is None:
            raise ScrapingProsCostError(
                f"{where}: max_credits={max_credits} is set but the run's cost cannot be estimated: "
                f"{_NO_ESTIMATE}<credits>, or drop max_credits."
            )
        if estimate.estimated_credits > max_credits:
            raise ScrapingProsCostError(
                f"{where}: it can cost {describe(estimate)}, more than max_credits={max_credits}. Raise "
                "max_credits, or make the collection smaller or lighter (browser only where a plain fetch "
                "fails) and run again."
            )
    if not require_quota:
        return warnings
    if quota is None:
        warnings.append(
            "The API's answer carried no X-Quota-Remaining header: the account's credits were not checked."
        )
        return warnings
    if quota.unlimited:
        return warnings
    remaining = quota.remaining or 0
    account = f"the account has {remaining} credits left this month" + (
        f" ({quota.used} of {quota.limit} used)" if quota.used is not None and quota.limit is not None else ""
    )
    if estimate is None:
        if remaining <= 0:
            raise ScrapingProsCostError(
                f"{where}: {account}. Wait for the monthly reset or upgrade the plan."
            )
        warnings.append(
            f"The run's cost cannot be estimated ({_NO_ESTIMATE}<credits> to have it checked); {account}."
        )
        return warnings
    if estimate.estimated_credits > remaining:
        raise ScrapingProsCostError(
            f"{where}: it can cost {describe(estimate)}, but {account}. The API would accept it and run "
            "every job, past the quota. Wait for the monthly reset, "
            "upgrade the plan or shrink the collection; require_quota=False starts it anyway."
        )
    return warnings
