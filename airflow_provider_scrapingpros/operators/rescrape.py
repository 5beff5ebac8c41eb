"""Rescrape what a run failed to fetch, escalating round by round, without a second billed run per round.

Each round resubmits the failed original requests that qualify (`reasons`), with the ladder's
overrides applied, as a new collection, runs it once, waits (in the triggerer when deferrable) and
carries what still fails into the next round. The chain of runs goes to the export operator
(`run_ids=`), which writes one merged result.

Why a retry of this task never pays twice: a round's requests follow from the previous round's
finished run, which never changes, so a retry builds the same body; the collection is created with
an Idempotency-Key from the task instance and the round (the API replays it for 24 h), and a round
collection belongs to this task alone, so a run found on it is the one an earlier try started (a
lost POST answer included) and is adopted instead of posting again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator
from pydantic import BaseModel, ConfigDict

from .. import DEFAULT_CONN_ID
from ..client.calls import required_id
from ..client.cost import CostEstimate, credit_cost
from ..client.models import is_terminal_run_status
from ..exceptions import ScrapingProsCostError, ScrapingProsInputError
from ..runs.budget import check_budget, check_cost_options, describe
from ..runs.events import conclude
from ..runs.rescrape import (
    RoundPlan,
    check_ladder,
    check_reasons,
    failure_reason,
    index_requests,
    overrides_for,
    plan_round,
)
from ..tasks.base import default_deferrable
from ..tasks.cost import push_estimates, upstream_estimate
from ..tasks.request_specs import RequestsInput, load_requests
from ..tasks.waiting import RunWaitMixin, check_wait_options, seconds

DEFAULT_LADDER: tuple[dict[str, Any], ...] = ({"retry_on_block": True}, {"browser": True})


class Round(BaseModel):
    """One run of the chain as the task returns it (round 0 is the original run). Plain JSON: it
    also travels with each deferral."""

    model_config = ConfigDict(extra="forbid")

    round: int
    collection_id: str
    run_id: str
    overrides: dict[str, Any] = {}
    requests: int
    # What the run can cost: exact for the rounds this task builds; the original's as its upstream
    # knew it (None: from the run's size).
    cost: CostEstimate | None = None
    credits_used: int | None = None  # once ended, when each request's price is known
    succeeded: int | None = None  # None until the run ended
    failed: int | None = None
    not_rescraped: dict[str, int] = {}  # reason -> this run's failures left alone on purpose
    unmatched: int = 0  # failures with no original request to rebuild


def round_idempotency_key(context: Any, round_no: int) -> str:
    """Same task instance and round ⇒ same key, on every try
    (docs/api-notes.md#collections-and-idempotency)."""
    ti = context["ti"]
    parts = ("rescrape", ti.dag_id, ti.task_id, ti.run_id, str(getattr(ti, "map_index", -1)), str(round_no))
    raw = "\x1f".join(parts)
    return "airflow-" + hashlib.sha256(raw.encode()).hexdigest()[:40]


class ScrapingProsRescrapeOperator(RunWaitMixin, BaseOperator):
    """Rescrape a finished run's failures in escalating rounds; return the chain of runs.

    :param collection_id: the original run's collection (templated).
    :param run_id: the original run, finished (templated; e.g. ``{{ ti.xcom_pull('run')['run_id'] }}``).
    :param requests: the original request list — the same input the create/update operator got
        (the API cannot list a collection's requests back). Failed jobs are matched to it by
        ``(url, custom_id)``.
    :param requests_conn_id: connection for reading `requests` from object storage.
    :param reasons: which failures qualify: any of ``blocked``, ``timeout``, ``worker_failure``,
        ``target_5xx``, ``target_429``, ``target_4xx``, ``unusable`` (default: the first five). A
        404/410 is never rescraped.
    :param ladder: request-field overrides per round, each on top of the ones before
        (default ``[{"retry_on_block": True}, {"browser": True}]``); rounds past its end keep its
        last step. ``url`` and ``custom_id`` cannot be overridden.
    :param max_rounds: rounds at most (default: the ladder's length).
    :param max_credits: cap on the rescrape's total cost, counted as the sum of every round's most
        (its requests' prices). A round that would go past it is not started: the chain stops there
        with a warning and ``stopped="max_credits"``, and the export merges what exists.
    :param require_quota: likewise, do not start a round the account's remaining credits cannot cover.
    :param deferrable, poll_interval, timeout: how each round's run is waited for, as in the run operator
        (``timeout`` applies to each round).
    :param round_collection_name: name of round k's collection (templated; ``{collection_id}`` and
        ``{round}`` are filled in).
    :return: dict (XCom) with ``collection_id``, ``run_id`` (the original), ``runs`` (every run as
        ``{"collection_id", "run_id"}``, original first: pass it to the export operator's
        ``run_ids``), ``run_ids``, ``rounds`` (per-round counts), ``remaining_failed``,
        ``not_rescraped`` (by reason) and ``stopped`` (why no further round ran).
    """

    template_fields: Sequence[str] = ("collection_id", "run_id", "requests", "round_collection_name")
    ui_color = "#fdebd7"

    def __init__(
        self,
        *,
        collection_id: str,
        run_id: str,
        requests: RequestsInput,
        requests_conn_id: str | None = None,
        reasons: Sequence[str] | None = None,
        ladder: Sequence[Mapping[str, Any]] | None = DEFAULT_LADDER,
        max_rounds: int | None = None,
        max_credits: int | None = None,
        require_quota: bool = True,
        deferrable: bool | None = None,
        poll_interval: float | None = None,
        timeout: timedelta | float | None = None,
        round_collection_name: str = "{collection_id} rescrape {round}",
        scrapingpros_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**self._with_retry_policy(kwargs))
        # Everything checkable is checked when the DAG is parsed, before any API call.
        self.reasons = check_reasons(reasons)
        self.ladder = check_ladder(ladder)
        if max_rounds is None:
            max_rounds = len(self.ladder)
        if isinstance(max_rounds, bool) or not isinstance(max_rounds, int) or max_rounds < 1:
            raise ScrapingProsInputError(
                f"max_rounds must be a whole number >= 1, got {max_rounds!r}.",
                errors=[("max_rounds", "must be an int >= 1")],
            )
        check_cost_options(max_credits=max_credits, estimated_credits=None)
        check_wait_options(max_failed_ratio=None, poll_interval=poll_interval)
        self.max_rounds = max_rounds
        self.max_credits = max_credits
        self.require_quota = require_quota
        self.collection_id = collection_id
        self.run_id = run_id
        self.requests = requests
        self.requests_conn_id = requests_conn_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = seconds(timeout)
        self.max_failed_ratio = None  # a round's failures are what the next round is for
        self.round_collection_name = round_collection_name
        self.scrapingpros_conn_id = scrapingpros_conn_id

    # ------------------------------------------------------------------------------------ flow
    def execute(self, context: Any) -> dict[str, Any]:
        required_id("collection_id", self.collection_id)
        required_id("run_id", self.run_id)
        load_requests(self.requests, conn_id=self.requests_conn_id)  # bad input fails before any call
        run = self.hook.get_run(self.collection_id, self.run_id)
        if not is_terminal_run_status(run.status):
            raise ScrapingProsInputError(
                f"Run {self.run_id} is still {run.status!r}: a rescrape needs the finished run. Put this "
                "task after the run task (wait_for_completion=True) or a sensor."
            )
        original = Round(
            round=0,
            collection_id=self.collection_id,
            run_id=self.run_id,
            requests=run.total_requests,
            cost=upstream_estimate(context, self, self.collection_id),
            succeeded=run.success_requests,
            failed=run.total_requests - run.success_requests,
        )
        original.credits_used = _estimate(original).report(original.succeeded).credits_used
        return self._next_round(context, [original])

    def round_ended(self, context: Any, event: Any, chain: list[dict[str, Any]]) -> dict[str, Any]:
        """Where every round's wait ends (at once, in the worker, or after the trigger fired)."""
        rounds = [Round.model_validate(r) for r in chain]
        result = conclude(event, self.hook.run_url, max_failed_ratio=None)
        current = rounds[-1]
        current.succeeded = result.success_requests
        current.failed = result.total_requests - result.success_requests
        current.credits_used = _estimate(current).report(current.succeeded).credits_used
        self.log.info(
            "Round %d (run %s): %d of %d now succeed.",
            current.round,
            current.run_id,
            current.succeeded,
            current.requests,
        )
        return self._next_round(context, rounds)

    def _next_round(self, context: Any, rounds: list[Round]) -> dict[str, Any]:
        last = rounds[-1]
        if not last.failed:
            return self._finish(context, rounds, "all_succeeded")
        if len(rounds) > self.max_rounds:
            return self._finish(context, rounds, "max_rounds")
        number = len(rounds)
        plan = self._plan(last, number)
        last.not_rescraped = plan.not_qualifying
        last.unmatched = len(plan.unmatched)
        if not plan.requests:
            self.log.info(
                "Nothing from run %s qualifies for a rescrape %s.", last.run_id, sorted(self.reasons)
            )
            return self._finish(context, rounds, "nothing_qualifies")
        browser = sum(1 for r in plan.requests if credit_cost(r) > 1)
        if self._over_cap(
            rounds, CostEstimate.of_mix(last.collection_id, len(plan.requests), browser, "submitted")
        ):
            return self._finish(context, rounds, "max_credits")
        name = self.round_collection_name.format(collection_id=self.collection_id, round=number)
        created = self.hook.create_collection(
            name, plan.requests, idempotency_key=round_idempotency_key(context, number)
        )
        estimate = CostEstimate.of_mix(created.id, len(plan.requests), browser, "submitted")
        current = Round(
            round=number,
            collection_id=created.id,
            run_id="",
            overrides=overrides_for(self.ladder, number),
            requests=len(plan.requests),
            cost=estimate,
        )
        started = self._start_round(rounds, current)
        if started is not None:
            return self._finish(context, rounds, started)
        rounds.append(current)
        state = {"chain": [r.model_dump(mode="json") for r in rounds]}
        result: dict[str, Any] = self.wait_for_run(
            context, created.id, current.run_id, self.wait_timeout, then="round_ended", state=state
        )
        return result

    # ------------------------------------------------------------------------------ internals
    def _start_round(self, rounds: list[Round], current: Round) -> str | None:
        """Set `current.run_id`: the run an earlier try started, else a new one. None when started;
        else why the chain stops here. Only a new run is checked against the budget: an adopted one
        is already paid for, and the quota it used must not stop its own chain."""
        existing = self.hook.list_runs(current.collection_id).items  # newest first; only this task runs it
        if existing:
            current.run_id = existing[-1].run_id
            self.log.info(
                "Round %d: run %s was started by an earlier try; reattaching.", current.round, current.run_id
            )
            return None
        estimate = _estimate(current)
        if self.require_quota and self._over_quota(estimate):
            return "quota"
        current.run_id = self.hook.create_run(current.collection_id).run_id
        self.log.info(
            "Round %d: run %s of %s (%d requests, overrides %s, %s).",
            current.round,
            current.run_id,
            current.collection_id,
            current.requests,
            current.overrides,
            describe(estimate),
        )
        return None

    def _plan(self, last: Round, number: int) -> RoundPlan:
        originals = index_requests(load_requests(self.requests, conn_id=self.requests_conn_id))
        # Insertion order (the run's job_ids order): the same body on every try, so the
        # Idempotency-Key replays instead of answering 422.
        failed = (
            job
            for job in self.hook.iter_jobs(last.collection_id, last.run_id, page_size=1000)
            if failure_reason(job) is not None
        )
        return plan_round(originals, failed, self.reasons, overrides_for(self.ladder, number))

    def _over_cap(self, rounds: list[Round], estimate: CostEstimate) -> bool:
        """Would this round take the rescrape past `max_credits`? Checked before its collection is
        made, so a stop leaves nothing behind; every try computes the same answer (the earlier rounds
        count at their most, and the original run is not the rescrape's to pay)."""
        if self.max_credits is None:
            return False
        spent = sum(_estimate(r).estimated_credits for r in rounds[1:])
        try:
            check_budget(
                estimate.collection_id,
                estimate,
                None,
                max_credits=max(0, self.max_credits - spent),
                require_quota=False,
            )
        except ScrapingProsCostError:
            self.log.warning(
                "Rescrape stops before round %d: it can cost %s, and %d of max_credits=%d are taken by "
                "the rounds before it. Raise max_credits to rescrape the rest.",
                len(rounds),
                describe(estimate),
                spent,
                self.max_credits,
            )
            return True
        return False

    def _over_quota(self, estimate: CostEstimate) -> bool:
        """Can the account not pay for this round's new run? Only asked before starting a run: a run
        an earlier try started is adopted whatever credits it has used since."""
        _, quota = self.hook.get_collection_quota(estimate.collection_id)
        try:
            for warning in check_budget(
                estimate.collection_id, estimate, quota, max_credits=None, require_quota=True
            ):
                self.log.warning(warning)
        except ScrapingProsCostError as exc:
            self.log.warning("Rescrape stops: %s", exc)
            return True
        return False

    def _finish(self, context: Any, rounds: list[Round], stopped: str) -> dict[str, Any]:
        not_rescraped: dict[str, int] = {}
        for r in rounds:
            for reason, count in r.not_rescraped.items():
                not_rescraped[reason] = not_rescraped.get(reason, 0) + count
        # Each original request that still fails is counted once: left alone by the plan of a round
        # that had a successor (not qualifying, or unmatched), or failed in the last run.
        remaining = sum(sum(r.not_rescraped.values()) + r.unmatched for r in rounds[:-1])
        remaining += rounds[-1].failed or 0
        self.log.info(
            "Rescrape done after %d round(s) (%s): %d of %d original requests still fail%s.",
            len(rounds) - 1,
            stopped,
            remaining,
            rounds[0].requests,
            f"; not rescraped: {not_rescraped}" if not_rescraped else "",
        )
        # For the export downstream: each collection's price (counts only), as the run operator does.
        push_estimates(context, [_estimate(r) for r in rounds])
        return {
            "collection_id": rounds[0].collection_id,
            "run_id": rounds[0].run_id,
            "runs": [{"collection_id": r.collection_id, "run_id": r.run_id} for r in rounds],
            "run_ids": [r.run_id for r in rounds],
            "rounds": [r.model_dump(mode="json") for r in rounds],
            "remaining_failed": remaining,
            "not_rescraped": not_rescraped,
            "stopped": stopped,
        }


def _estimate(r: Round) -> CostEstimate:
    return r.cost or CostEstimate.unknown_mix(r.collection_id, r.requests)
