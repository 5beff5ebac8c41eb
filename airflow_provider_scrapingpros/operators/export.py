"""Export every job's result of a run to object storage before the API's 48-hour retention ends.

`execute()` is one export pass (export/engine.py): continue from what the destination already
holds, write every terminal job not written yet, then either finish — `_manifest.jsonl`, then
`_SUCCESS.json` — or, while the run is still in progress and `follow=True`, defer to a trigger
until more jobs have finished (no worker slot held) and run the next pass in `execute_complete`.
Because all progress is committed to the destination, a retry after a crash, a rerun, and each
resumed pass share one code path, and the result is the same as one clean pass after completion.

The task returns (XCom) and attaches to every Asset in `outlets` the same small summary:
destination and manifest URIs, counts and bytes — never page content.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk import Asset, BaseOperator, ObjectStoragePath

from .. import DEFAULT_CONN_ID
from ..exceptions import ScrapingProsError, ScrapingProsWaitTimeoutError
from ..export.content import ExportOptions
from ..export.engine import ExportEngine, PassOutcome
from ..export.store import ExportStore
from ..links import ScrapingProsRunLink
from ._base import AirflowTaskTimeout, ScrapingProsTaskMixin, execution_deadline

if TYPE_CHECKING:
    from ..triggers.export import ExportWakeEvent

PAGE = 100


class ScrapingProsExportResultsOperator(ScrapingProsTaskMixin, BaseOperator):
    """Stream every result of a run to `destination` (any ObjectStoragePath URI).

    :param collection_id: the run's collection (templated).
    :param run_id: the run to export (templated; e.g. ``{{ ti.xcom_pull('run')['run_id'] }}``).
    :param destination: folder URI, e.g. ``s3://bucket/scrapes/{{ ds }}/`` (templated). Use one per run.
    :param storage_conn_id: Airflow connection for the storage (e.g. an ``aws`` connection).
    :param layout: ``files`` (one object per job, keyed by custom_id) or ``jsonl`` (gzip JSON Lines parts).
    :param include: any of ``content``, ``extracted_data``, ``screenshot``, ``network_requests``,
        ``metadata`` (default: all; in the ``files`` layout all but ``metadata``, which the manifest has).
    :param only_success: export bodies of successful jobs only (others are listed in the manifest).
    :param on_expired: ``fail`` (default): fail after writing everything still available when some
        bodies were past retention; ``record``: only list them as ``expired`` and succeed.
    :param follow: if the run is still in progress, export what is terminal and defer until more
        jobs finish; if False, a run still in progress fails the task.
    :param poll_interval: seconds between run polls while following (None: adaptive, like the SDK).
    :param follow_batch: wake up after this many more jobs finished (None: max(100, 5% of the run)).
    :param max_concurrency: parallel `/result` fetches and storage writes.
    :param part_max_bytes, part_max_records: bounds of one jsonl part (uncompressed bytes, records).
    :return: dict with destination, manifest and success_marker URIs, run ids and status, layout and
        the counts jobs/exported/failed/expired/lost/successful/objects/bytes.
    """

    template_fields: Sequence[str] = ("collection_id", "run_id", "destination", "storage_conn_id")
    operator_extra_links = (ScrapingProsRunLink(),)
    ui_color = "#e0f2e9"

    def __init__(
        self,
        *,
        collection_id: str,
        run_id: str,
        destination: str,
        storage_conn_id: str | None = None,
        layout: Literal["files", "jsonl"] = "files",
        include: Sequence[str] | None = None,
        only_success: bool = False,
        on_expired: Literal["fail", "record"] = "fail",
        follow: bool = True,
        poll_interval: float | None = None,
        follow_batch: int | None = None,
        max_concurrency: int = 8,
        part_max_bytes: int = 64 * 1024 * 1024,
        part_max_records: int = 5000,
        scrapingpros_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**self._with_retry_policy(kwargs))
        if on_expired not in ("fail", "record"):
            raise ValueError(f"on_expired must be 'fail' or 'record', got {on_expired!r}.")
        if max_concurrency < 1 or (follow_batch is not None and follow_batch < 1):
            raise ValueError("max_concurrency and follow_batch must be at least 1.")
        if poll_interval is not None and poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive seconds, got {poll_interval!r}.")
        # Checked now (import time of the DAG), not after the first API call.
        self.options = ExportOptions(
            layout=layout,
            include=frozenset(include or ()),
            only_success=only_success,
            part_max_bytes=part_max_bytes,
            part_max_records=part_max_records,
        )
        self.collection_id = collection_id
        self.run_id = run_id
        self.destination = destination
        self.storage_conn_id = storage_conn_id
        self.on_expired = on_expired
        self.follow = follow
        self.poll_interval = poll_interval
        self.follow_batch = follow_batch
        self.max_concurrency = max_concurrency
        self.scrapingpros_conn_id = scrapingpros_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        ScrapingProsRunLink.persist(context, self.hook.run_url(self.collection_id, self.run_id))
        return self._export_pass(context)

    def execute_complete(self, context: Any, event: Any = None) -> dict[str, Any]:
        wake = self._parse_event(event)
        if wake.status == "timeout":
            if wake.deadline == "execution_timeout":
                raise AirflowTaskTimeout(
                    f"{wake.message.rstrip('.')}. A retry resumes the export where it stopped."
                )
            raise ScrapingProsWaitTimeoutError(wake.message, deadline=wake.deadline)
        if wake.status == "error":
            raise ScrapingProsError(
                f"{wake.message.rstrip('.')}. A retry resumes the export where it stopped."
            )
        return self._export_pass(context)

    # ------------------------------------------------------------------------------------------
    def _export_pass(self, context: Any) -> dict[str, Any]:
        outcome = self._engine().run_pass(follow=self.follow)
        if outcome.finished and outcome.summary is not None:
            self._attach_to_outlets(context, outcome.summary)
            return outcome.summary
        self._defer_until_more(context, outcome)
        raise AssertionError("defer() returns only by raising")  # pragma: no cover

    def _engine(self) -> ExportEngine:
        return ExportEngine(
            self.hook,
            self._store(),
            self.collection_id,
            self.run_id,
            self.options,
            on_expired=self.on_expired,
            workers=self.max_concurrency,
            log=self.log,
        )

    def _store(self) -> ExportStore:
        return ExportStore(ObjectStoragePath(self.destination, conn_id=self.storage_conn_id))

    def _defer_until_more(self, context: Any, outcome: PassOutcome) -> None:
        total = outcome.run.total_requests if outcome.run is not None else 0
        batch = self.follow_batch or max(PAGE, total // 20)
        # Imported here: the trigger module loads the hook (requests, httpx), which DAG parsing never needs.
        from ..triggers.export import ScrapingProsExportFollowTrigger

        self.defer(
            trigger=ScrapingProsExportFollowTrigger(
                collection_id=self.collection_id,
                run_id=self.run_id,
                wake_at_done=min(total, outcome.recorded + batch),
                scrapingpros_conn_id=self.scrapingpros_conn_id,
                poll_interval=self.poll_interval,
                execution_deadline=execution_deadline(context, self.execution_timeout),
            ),
            method_name="execute_complete",
            # None on purpose: the execution deadline travels inside the trigger, so running out of
            # time still ends in execute_complete with a message instead of a bare trigger timeout.
            timeout=None,
        )

    def _attach_to_outlets(self, context: Any, summary: dict[str, Any]) -> None:
        """The same figures as the XCom, as metadata of each Asset event this task emits."""
        events = context.get("outlet_events")
        if events is None:
            return
        for outlet in self.outlets or ():
            if isinstance(outlet, Asset):
                events[outlet].extra = dict(summary)

    @staticmethod
    def _parse_event(event: Any) -> ExportWakeEvent:
        from ..triggers.export import ExportWakeEvent

        try:
            return ExportWakeEvent.model_validate(event)
        except ValueError as exc:
            raise ScrapingProsError(
                f"Received a malformed trigger event; refusing to guess ({exc}). Event: {event!r:.300}. "
                "A retry resumes the export where it stopped."
            ) from None
