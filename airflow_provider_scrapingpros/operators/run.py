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
from ..links import ScrapingProsRunLink
from ..run_handle import RunHandleStore
from ..run_outcome import RunSnapshot, result_of
from ..waiting import RunWaitMixin, seconds
from ._base import default_deferrable


class ScrapingProsRunCollectionOperator(RunWaitMixin, BaseOperator):
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
    :return: dict with collection_id, run_id, status, counters, outcome and run_url (XCom).
    """

    template_fields: Sequence[str] = ("collection_id",)
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
        scrapingpros_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**self._with_retry_policy(kwargs))
        if max_failed_ratio is not None and not 0 <= max_failed_ratio <= 1:
            raise ValueError(f"max_failed_ratio must be between 0 and 1, got {max_failed_ratio!r}.")
        if poll_interval is not None and poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive seconds, got {poll_interval!r}.")
        self.collection_id = collection_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = seconds(timeout)
        self.max_failed_ratio = max_failed_ratio
        self.reattach = reattach
        self.scrapingpros_conn_id = scrapingpros_conn_id
        self._run_id: str | None = None

    def execute(self, context: Any) -> dict[str, Any]:
        run_id = self._start_or_reattach(context)
        url = self.hook.run_url(self.collection_id, run_id)
        ScrapingProsRunLink.persist(context, url)
        if not self.wait_for_completion:
            run = self.hook.get_run(self.collection_id, run_id)
            return result_of(RunSnapshot.of(run), url, waited=False).model_dump(mode="json")
        return self.wait_for_run(context, self.collection_id, run_id, self.wait_timeout)

    def _start_or_reattach(self, context: Any) -> str:
        store = RunHandleStore(context, self.hook, self.collection_id)
        previous = store.recall() if self.reattach else None
        if previous:
            self.log.info("Reattaching to run %s started by an earlier try; no new run is created.", previous)
            self._run_id = previous
            return previous
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
