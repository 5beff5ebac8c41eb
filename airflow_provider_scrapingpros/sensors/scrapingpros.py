"""ScrapingProsRunSensor: wait for a run started elsewhere (another DAG, a cron job, the vendor UI).

Same outcome policy and return value as the run operator (`max_failed_ratio`, the result dict),
because both finish through `RunWaitMixin.finish`. Deferrable mode hands the wait to
`ScrapingProsRunTrigger` with the sensor's `timeout` as a wall-clock deadline; poke and reschedule
modes use the same `RunWatcher` one observation per poke.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from .. import DEFAULT_CONN_ID
from ..links import ScrapingProsRunLink
from ..runs.events import WaitEvent
from ..runs.watcher import Deadlines
from ..tasks.base import default_deferrable
from ..tasks.waiting import RunWaitMixin, check_wait_options, seconds


class ScrapingProsRunSensor(RunWaitMixin, BaseSensorOperator):
    """Wait until a run ends.

    :param collection_id: the run's collection (templated).
    :param run_id: the run (templated).
    :param deferrable: wait in the triggerer (default: `[operators] default_deferrable`).
    :param poll_interval: seconds between polls when deferred; None adapts to the run's size.
    :param max_failed_ratio: fail when more than this share of jobs did not succeed.
    :return: the same dict as ScrapingProsRunCollectionOperator (XCom).
    """

    template_fields: Sequence[str] = ("collection_id", "run_id")
    operator_extra_links = (ScrapingProsRunLink(),)

    def __init__(
        self,
        *,
        collection_id: str,
        run_id: str,
        deferrable: bool | None = None,
        poll_interval: float | None = None,
        max_failed_ratio: float | None = None,
        scrapingpros_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        check_wait_options(max_failed_ratio=max_failed_ratio, poll_interval=poll_interval)
        if poll_interval is not None:
            kwargs.setdefault("poke_interval", poll_interval)
        super().__init__(**self._with_retry_policy(kwargs))
        self.collection_id = collection_id
        self.run_id = run_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.poll_interval = poll_interval
        self.max_failed_ratio = max_failed_ratio
        self.scrapingpros_conn_id = scrapingpros_conn_id

    def execute(self, context: Any) -> Any:
        ScrapingProsRunLink.persist(context, self.hook.run_url(self.collection_id, self.run_id))
        if self.deferrable:
            return self.wait_for_run(context, self.collection_id, self.run_id, seconds(self.timeout))
        return super().execute(context)

    def poke(self, context: Any) -> PokeReturnValue | bool:
        watcher = self._watcher(self.collection_id, self.run_id, Deadlines())
        step = watcher.observe(self.hook.get_run(self.collection_id, self.run_id), time.time())
        if isinstance(step, WaitEvent):
            return PokeReturnValue(is_done=True, xcom_value=self.finish(context, step))
        return False


__all__ = ["ScrapingProsRunSensor"]
