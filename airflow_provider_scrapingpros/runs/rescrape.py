"""Rescraping, Airflow-free: why a job failed, which failures a second try can fix, what each round
changes (the ladder), and how the attempts of one original request are matched across runs.

Attempts are matched by `(url, custom_id)`: a round resubmits the original request with its URL and
`custom_id` unchanged (the ladder may not touch either), and within one collection the API keeps
only one request per `(url, custom_id)`, so the pair names one original request in every run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ..client.models import Job, ScrapeRequest
from ..exceptions import ScrapingProsInputError

Reason = Literal[
    "blocked", "timeout", "worker_failure", "target_5xx", "target_429", "target_4xx", "unusable", "not_found"
]
# What a second try can fix; `not_found` (404/410) is never rescraped: the page is not there.
REASONS: tuple[Reason, ...] = (
    "blocked",
    "timeout",
    "worker_failure",
    "target_5xx",
    "target_429",
    "target_4xx",
    "unusable",
)
DEFAULT_REASONS: frozenset[Reason] = frozenset(
    {"blocked", "timeout", "worker_failure", "target_5xx", "target_429"}
)
LADDER_FORBIDDEN = frozenset({"url", "custom_id"})  # they are how attempts are matched

RequestKey = tuple[str, str]


def request_key(url: str | None, custom_id: str | None) -> RequestKey:
    return (url or "", custom_id or "")


def failure_reason(job: Job) -> Reason | None:
    """None for a success or a job not yet terminal; else why the job is not a success."""
    if job.is_success or job.status == "processing":
        return None
    if job.status == "timeout":
        return "timeout"
    if job.status == "failed":
        return "worker_failure"
    if job.block_reason not in (None, "none"):
        return "blocked"
    code = job.status_code
    if code in (404, 410):
        return "not_found"
    if code == 429:
        return "target_429"
    if code is not None and code >= 500:
        return "target_5xx"
    if code is not None and 400 <= code < 500:
        return "target_4xx"
    return "unusable"  # a 2xx (or no status) the success criterion refused


def check_reasons(reasons: Iterable[str] | None) -> frozenset[Reason]:
    if reasons is None:
        return DEFAULT_REASONS
    if isinstance(reasons, str):
        reasons = [reasons]
    chosen = list(reasons)
    bad = [r for r in chosen if r not in REASONS]
    if bad:
        hint = " 404s are never rescraped: the page is not there." if "not_found" in bad else ""
        raise ScrapingProsInputError(
            f"reasons: {bad!r} not rescrapable; choose from {list(REASONS)}.{hint}",
            errors=[("reasons", f"unknown or not rescrapable: {bad!r}")],
        )
    if not chosen:
        raise ScrapingProsInputError(
            "reasons is empty: nothing would ever qualify. Leave it out for the default "
            f"{sorted(DEFAULT_REASONS)}.",
            errors=[("reasons", "empty")],
        )
    return frozenset(r for r in REASONS if r in chosen)


_PROBE_URL = "https://example.com/"


def check_ladder(ladder: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """Each rung is a dict of request fields; rung k applies on top of rungs 1..k-1 (an escalation).
    Every cumulative step must make a valid request, so a bad field fails when the DAG is parsed."""
    if ladder is None:
        return [{}]
    if isinstance(ladder, Mapping) or not isinstance(ladder, Sequence) or not ladder:
        raise ScrapingProsInputError(
            'ladder must be a non-empty list of request-field dicts, e.g. [{"retry_on_block": true}, '
            f'{{"browser": true}}], got {ladder!r}.',
            errors=[("ladder", "not a non-empty list of dicts")],
        )
    checked: list[dict[str, Any]] = []
    merged: dict[str, Any] = {}
    for index, rung in enumerate(ladder):
        where = f"ladder[{index}]"
        if not isinstance(rung, Mapping):
            raise ScrapingProsInputError(f"{where} must be a dict of request fields, got {rung!r}.",
                                         errors=[(where, "not a dict")])  # fmt: skip
        forbidden = sorted(LADDER_FORBIDDEN & set(rung))
        if forbidden:
            raise ScrapingProsInputError(
                f"{where} may not change {forbidden}: a round keeps each request's URL and custom_id, "
                "which is how its attempts are matched. Put a different URL in a new collection instead.",
                errors=[(f"{where}.{forbidden[0]}", "may not be overridden")],
            )
        unknown = sorted(set(rung) - set(ScrapeRequest.model_fields))
        if unknown:
            raise ScrapingProsInputError(
                f"{where}: {unknown} are not request fields; see ScrapeRequest for the list.",
                errors=[(f"{where}.{unknown[0]}", "unknown request field")],
            )
        merged = {**merged, **rung}
        try:
            ScrapeRequest.model_validate({"url": _PROBE_URL, **merged})
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise ScrapingProsInputError(
                f"{where}: {field}: {first['msg']} (rungs apply on top of the ones before).",
                errors=[(f"{where}.{field}", first["msg"])],
            ) from None
        checked.append(dict(rung))
    return checked


def overrides_for(ladder: Sequence[Mapping[str, Any]], round_no: int) -> dict[str, Any]:
    """Round 1 applies rung 1; round k rungs 1..k; rounds past the ladder keep its last step."""
    merged: dict[str, Any] = {}
    for rung in ladder[: max(1, round_no)]:
        merged.update(rung)
    return merged


def escalated(request: ScrapeRequest, overrides: Mapping[str, Any]) -> ScrapeRequest:
    return ScrapeRequest.model_validate({**request.model_dump(exclude_unset=True), **overrides})


class Attempt(BaseModel):
    """One try at one original request, as the merged export's manifest lists it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    round: int  # 0 = the original run
    run_id: str
    job_id: str
    status: str
    is_success: bool
    reason: Reason | None


def attempt_of(job: Job, round_no: int) -> Attempt:
    return Attempt(
        round=round_no,
        run_id=job.run_public_id,
        job_id=job.job_public_id,
        status=job.status,
        is_success=bool(job.is_success),
        reason=failure_reason(job),
    )


def best(attempts: Sequence[Attempt]) -> Attempt:
    """The attempt whose result represents the request: the first success, else the last try."""
    return next((a for a in attempts if a.is_success), attempts[-1])


class RoundPlan(BaseModel):
    """The requests of one round, and what did not go into it (by reason)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests: list[ScrapeRequest]
    not_qualifying: dict[str, int]  # reason -> jobs left failed on purpose (404s among them)
    unmatched: list[RequestKey]  # failed jobs with no original request (see `plan_round`)


def index_requests(requests: Iterable[ScrapeRequest]) -> dict[RequestKey, ScrapeRequest]:
    """The original requests by key; the first of a repeated key wins, as the API keeps it."""
    indexed: dict[RequestKey, ScrapeRequest] = {}
    for request in requests:
        indexed.setdefault(request_key(request.url, request.custom_id), request)
    return indexed


def plan_round(
    originals: Mapping[RequestKey, ScrapeRequest],
    failed: Iterable[Job],
    reasons: frozenset[Reason],
    overrides: Mapping[str, Any],
) -> RoundPlan:
    """`failed`: the jobs of the previous round that are not a success. A job whose `(url, custom_id)`
    is not among the original requests (another request list was passed, or the API truncated a
    long URL) cannot be rebuilt and is reported, never guessed."""
    requests: list[ScrapeRequest] = []
    skipped: dict[str, int] = {}
    unmatched: list[RequestKey] = []
    seen: set[RequestKey] = set()
    for job in failed:
        reason = failure_reason(job)
        if reason is None:
            continue
        if reason not in reasons:
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        key = request_key(job.url, job.custom_id)
        original = originals.get(key)
        if original is None or job.url_truncated:
            unmatched.append(key)
            continue
        if key not in seen:
            seen.add(key)
            requests.append(escalated(original, overrides))
    return RoundPlan(requests=requests, not_qualifying=skipped, unmatched=unmatched)
