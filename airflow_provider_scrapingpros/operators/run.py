"""Start a run of a collection exactly once per task instance, then wait for it without a worker slot.

The order in `execute()` is the point: reattach to a run an earlier try started, else start one and
*save its id before anything else can fail*, link it in the UI, and only then wait. A retry after a
crash, a kill or a lost POST response therefore continues the same (billed) run.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator

from .. import DEFAULT_CONN_ID
from ..lineage.operators import RunLineageMixin
from ..links import ScrapingProsRunLink
from ..runs.budget import check_budget, check_cost_options, describe
from ..runs.verdict import RunSnapshot, result_of
from ..tasks.base import default_deferrable
from ..tasks.cost import estimate_from_last_run, known_estimate, with_cost
from ..tasks.run_handle import RunHandleStore
from ..tasks.waiting import RunWaitMixin, check_wait_options, seconds


class ScrapingProsRunCollectionOperator(RunLineageMixin, RunWaitMixin, BaseOperator):
    """Run a collection and (by default) wait for the run to finish.

    :param collection_id: the collection to run (templated; usually the create operator's XCom).
    :param wait_for_completion: wait for the run to end; if False, return right after starting it.
    :param deferrable: wait in the triggerer instead of a worker slot
        (default: `[operators] default_deferrable`).
    :param poll_interval: seconds between status polls; None adapts to the run's size like the SDK.
    :param timeout: how long to wait for the run (seconds or timedelta); None waits indefinitely
        (the task's `execution_timeout` still applies, in the triggerer too).
    :param max_failed_ratio: fail the task when more than this share of jobs did not succeed.
    :param reattach: on a retry, continue the run an earlier try started (default). See run_handle.
    :param max_credits: do not start a run that can cost more than this many credits (docs/cost.md).
    :param require_quota: do not start a run that can cost more than the account has left this month
        (`X-Quota-Remaining`; `unlimited` always fits). Neither limit is checked on a reattach.
    :param estimated_credits: the most a run can cost, when no create/update operator upstream
        recorded the collection's requests (templated).
    :return: dict with collection_id, run_id, status, counters, outcome, run_url, estimated_credits,
        estimate_source, credits_used and credits_used_range (XCom; docs/cost.md says how they are computed).
    """

    template_fields: Sequence[str] = ("collection_id", "estimated_credits")
    operator_extra_links = (ScrapingProsRunLink(),)
    ui_color = "#d7ecfb"

    def __init__(
        self,
        *,
        collection_id: str,
        wait_for_completion: bool = True,
        deferrable: bool | None = None,
        poll_interval: float | None = None,
        timeout: timedelta | float | None = None,
        max_failed_ratio: float | None = None,
        reattach: bool = True,
        max_credits: int | None = None,
        require_quota: bool = True,
        estimated_credits: int | str | None = None,
        scrapingpros_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**self._with_retry_policy(kwargs))
        check_wait_options(max_failed_ratio=max_failed_ratio, poll_interval=poll_interval)
        check_cost_options(max_credits=max_credits, estimated_credits=None)
        self.collection_id = collection_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = seconds(timeout)
        self.max_failed_ratio = max_failed_ratio
        self.reattach = reattach
        self.max_credits = max_credits
        self.require_quota = require_quota
        self.estimated_credits = estimated_credits
        self.scrapingpros_conn_id = scrapingpros_conn_id
        self._run_id: str | None = None

    def execute(self, context: Any) -> dict[str, Any]:
        run_id = self._start_or_reattach(context)
        url = self.hook.run_url(self.collection_id, run_id)
        ScrapingProsRunLink.persist(context, url)
        if not self.wait_for_completion:
            run = self.hook.get_run(self.collection_id, run_id)
            started = result_of(RunSnapshot.of(run), url, waited=False)
            return with_cost(context, self, started, self.given_credits())
        result: dict[str, Any] = self.wait_for_run(context, self.collection_id, run_id, self.wait_timeout)
        return result

    def given_credits(self) -> int | None:
        raw = self.estimated_credits
        if isinstance(raw, str):
            raw = int(raw) if raw.strip().isdigit() else raw  # a rendered template is a string
        check_cost_options(max_credits=self.max_credits, estimated_credits=raw)
        return raw if isinstance(raw, int) else None

    def _check_cost(self, context: Any) -> None:
        """Before POST …/run only: refuse a run the task's cap or the account's credits cannot cover."""
        estimate = known_estimate(context, self, self.collection_id, self.given_credits())
        if self.max_credits is None and not self.require_quota:
            return
        collection, quota = self.hook.get_collection_quota(self.collection_id)
        limited = self.max_credits is not None or (
            self.require_quota and quota is not None and not quota.unlimited
        )
        if estimate is None and limited:  # one more call, only where a limit needs the figure
            estimate = estimate_from_last_run(self.hook, collection)
        for warning in check_budget(
            self.collection_id,
            estimate,
            quota,
            max_credits=self.max_credits,
            require_quota=self.require_quota,
        ):
            self.log.warning(warning)
        if estimate is not None:
            remaining = "unlimited" if quota is None or quota.unlimited else quota.remaining
            self.log.info("The run can cost %s; credits left: %s.", describe(estimate), remaining)

    def _start_or_reattach(self, context: Any) -> str:
        store = RunHandleStore(context, self.hook, self.collection_id)
        previous = store.recall() if self.reattach else None
        if previous:
            self.log.info("Reattaching to run %s started by an earlier try; no new run is created.", previous)
            self._run_id = previous
            return previous
        self._check_cost(context)
        if self.reattach:
            store.intend()
        run = self.hook.create_run(self.collection_id)
        self._run_id = run.run_id
        store.remember(run.run_id)
        self.log.info(
            "Started run %s of collection %s (%d requests).",
            run.run_id,
            self.collection_id,
            run.total_requests,
        )
        return run.run_id

    def on_kill(self) -> None:
        if self._run_id:
            self.log.warning(
                "Task killed, but run %s keeps going on the server: the API has no cancel. Follow it at %s; "
                "a retry of this task reattaches to it instead of starting another.",
                self._run_id,
                self.hook.run_url(self.collection_id, self._run_id),
            )
