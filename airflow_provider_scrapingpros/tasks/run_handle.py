"""Remember which run a task started, so a retry reattaches to it instead of paying for a second run.

POST …/run is not idempotent (docs/api-notes.md#runs): every call is a new, billed run. The run id is saved
the moment it exists — before the task waits or defers — and read back on the next try:

* Airflow 3.3+: in the task instance's `task_state_store` (survives retries, scoped per map index).
  An *intent* is saved there before the POST: a retry that finds an intent but no run id (the answer
  was lost, or the worker died before saving it) looks the run up — runs of this collection created
  since the intent — and adopts it; it posts again only when the look-up answers that there is none.
  A look-up that fails fails the try: a retry never posts while it cannot tell.
* Airflow 3.1/3.2 (no state store): the API is asked instead — on a retry (try_number > 1) the task
  reattaches to the newest run of the collection created since the DAG run started. XCom cannot
  serve here because Airflow clears a task's XComs when it retries. The fallback is exact for the
  usual shape (one run task per collection per DAG run); where several tasks run the same collection
  in one DAG run on Airflow < 3.3, pass `reattach=False` to those tasks.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..hooks.scrapingpros import ScrapingProsHook

STATE_KEY = "scrapingpros_run"
# Longer than any sensible wait plus the 48 h result window: a retry days later must still find it.
STATE_RETENTION = timedelta(days=7)
log = logging.getLogger(__name__)


class RunHandleStore:
    def __init__(self, context: Any, hook: ScrapingProsHook, collection_id: str) -> None:
        self._context = context
        self._hook = hook
        self._collection_id = collection_id
        self._store = context.get("task_state_store")

    def recall(self) -> str | None:
        if self._store is None:
            return self._recall_from_api()
        saved = self._store.get(STATE_KEY)
        if not isinstance(saved, dict) or saved.get("collection_id") != self._collection_id:
            return None
        if saved.get("run_id"):
            return str(saved["run_id"])
        posting_since = saved.get("posting_since")
        return self._adopt_since(float(posting_since)) if isinstance(posting_since, (int, float)) else None

    def intend(self) -> None:
        """Called right before POST …/run."""
        self._save({"collection_id": self._collection_id, "run_id": None, "posting_since": time.time()})

    def remember(self, run_id: str) -> None:
        self._save({"collection_id": self._collection_id, "run_id": run_id})

    def _save(self, value: dict[str, Any]) -> None:
        if self._store is not None:
            self._store.set(STATE_KEY, value, retention=STATE_RETENTION)

    def _adopt_since(self, posting_since: float) -> str | None:
        run = self._hook.find_run_since(self._collection_id, posting_since)
        if run is None:
            log.info("An earlier try's POST …/run created no run; starting one.")
            return None
        log.info("Run %s was created by an earlier try whose POST …/run got no answer; using it.", run.run_id)
        self.remember(run.run_id)
        return run.run_id

    def _recall_from_api(self) -> str | None:
        ti = self._context["ti"]
        if getattr(ti, "try_number", 1) <= 1:
            return None  # a first try has nothing to reattach to
        since = _epoch(getattr(self._context.get("dag_run"), "start_date", None))
        if since is None:
            return None
        for run in self._hook.list_runs(self._collection_id).items:  # newest first
            if run.created_at is not None and run.created_at >= since:
                log.info(
                    "No task_state_store on this Airflow; found run %s created during this DAG run.",
                    run.run_id,
                )
                return run.run_id
        return None


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None
