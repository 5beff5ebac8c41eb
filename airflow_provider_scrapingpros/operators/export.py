"""Export every job's result of a run to object storage before the API's 48-hour retention ends.

`execute()` is one export pass (export/runner.py): continue from what the destination already
holds, write every terminal job not written yet, then either finish — `_manifest.jsonl`, then
`_SUCCESS.json` — or, while the run is still in progress and `follow=True`, defer to a trigger
until more jobs have finished (no worker slot held) and run the next pass in `execute_complete`.
Because all progress is committed to the destination, a retry after a crash, a rerun, and each
resumed pass share one code path, and the result is the same as one clean pass after completion.

The task returns (XCom) and attaches to every Asset in `outlets` the same small summary:
destination and manifest URIs, counts and bytes — never page content.

Scheduled on a collection's Asset (watcher or webhook), the task leaves `collection_id` and
`run_id` unset and exports each run the triggering Asset events announce (tasks/triggering_runs.py),
each into `destination` with `{run_id}` filled in. Those runs are finished, so such a pass never
follows (defers); one DAG run exports every run it was triggered for, one after another.

With `run_ids` (a rescrape chain, original first) the task writes one merged destination: the
original run's lines, each with the best attempt at its request (export/merge.py,
docs/merged-export.md). Every run of the chain must have ended; such a pass never follows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseOperator, XComArg

from .. import DEFAULT_CONN_ID
from ..client.models import MAX_PAGE_SIZE_WITH_RESULTS
from ..exceptions import ScrapingProsError
from ..export.chain import ChainRun, is_template, parse_run_ids
from ..export.content import ExportOptions, Layout
from ..export.streams import DEFAULT_MAX_STREAMS
from ..lineage.operators import ExportLineageMixin
from ..links import ScrapingProsRunLink
from ..tasks.base import ScrapingProsTaskMixin, execution_deadline, timeout_error

if TYPE_CHECKING:  # the export machinery (and the client under it) loads when a task runs, not at parse
    from ..export.runner import ExportRunner, PassOutcome
    from ..export.session import OnExpired
    from ..export.store import ExportStore

# All progress is committed to the destination, so whatever ended a pass, a retry goes on from it.
_RESUMES = "A retry resumes the export where it stopped."


class ScrapingProsExportResultsOperator(ExportLineageMixin, ScrapingProsTaskMixin, BaseOperator):
    """Stream every result of a run to `destination` (any ObjectStoragePath URI).

    :param collection_id: the run's collection (templated). None together with `run_id`: the runs
        announced by the triggering Asset events (a DAG scheduled on ``collection_asset(...)``).
    :param run_id: the run to export (templated; e.g. ``{{ ti.xcom_pull('run')['run_id'] }}``).
    :param run_ids: instead of `run_id`, a rescrape chain, original first (templated, or an XComArg):
        run ids of `collection_id` and/or ``{"collection_id", "run_id"}`` dicts, e.g.
        ``"{{ ti.xcom_pull('rescrape')['runs'] }}"``. One merged export: a line per original job with
        the best attempt's result and every attempt listed. One item is the same as `run_id`.
    :param destination: folder URI, e.g. ``s3://bucket/scrapes/{{ ds }}/`` (templated). Use one per run;
        ``{run_id}`` and ``{collection_id}`` in it become the exported run's ids.
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
    :param max_streams: parallel page streams over a finished run's listing (export/streams.py):
        the same output, K connections instead of one. ``1`` reads one cursor walk, as before 0.3.
    :param part_max_bytes, part_max_records: bounds of one jsonl part (uncompressed bytes, records).
    :return: dict with destination, manifest and success_marker URIs, run ids and status, layout and
        the counts jobs/exported/failed/expired/lost/successful/objects/bytes. When several triggering
        events announced runs: ``{"exports": [one such dict per run, oldest first]}``.
    """

    template_fields: Sequence[str] = ("collection_id", "run_id", "run_ids", "destination", "storage_conn_id")
    operator_extra_links = (ScrapingProsRunLink(),)
    ui_color = "#e0f2e9"

    def __init__(
        self,
        *,
        collection_id: str | None = None,
        run_id: str | None = None,
        run_ids: Sequence[str | Mapping[str, str]] | str | XComArg | None = None,
        destination: str,
        storage_conn_id: str | None = None,
        layout: Layout = "files",
        include: Sequence[str] | None = None,
        only_success: bool = False,
        on_expired: OnExpired = "fail",
        follow: bool = True,
        poll_interval: float | None = None,
        follow_batch: int | None = None,
        max_concurrency: int = 8,
        max_streams: int = DEFAULT_MAX_STREAMS,
        part_max_bytes: int = 64 * 1024 * 1024,
        part_max_records: int = 5000,
        scrapingpros_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**self._with_retry_policy(kwargs))
        if on_expired not in ("fail", "record"):
            raise ValueError(f"on_expired must be 'fail' or 'record', got {on_expired!r}.")
        if max_concurrency < 1 or max_streams < 1 or (follow_batch is not None and follow_batch < 1):
            raise ValueError("max_concurrency, max_streams and follow_batch must be at least 1.")
        if run_ids is not None:
            if run_id is not None:
                raise ValueError(
                    "Pass run_id or run_ids, not both: run_ids names the original run as its first item."
                )
            if not is_template(run_ids) and not isinstance(run_ids, XComArg):
                # As early as the DAG's import; a template or an XComArg is checked once rendered.
                parse_run_ids(run_ids, collection_id)
        elif (collection_id is None) != (run_id is None):
            raise ValueError(
                "Pass both collection_id and run_id, or neither (the runs then come from the DAG run's "
                "triggering Asset events)."
            )
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
        self.run_ids = run_ids
        self.max_streams = max_streams
        self.later_runs: list[ChainRun] = []  # a merged export's round runs, set when the task runs
        self.destination = destination
        self.storage_conn_id = storage_conn_id
        self.on_expired = on_expired
        self.follow = follow
        self.poll_interval = poll_interval
        self.follow_batch = follow_batch
        self.max_concurrency = max_concurrency
        self.scrapingpros_conn_id = scrapingpros_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        self._resolve_chain()
        if self.collection_id is None or self.run_id is None:
            return self._export_triggering_runs(context)
        self._check_destination(self._run_destination())
        ScrapingProsRunLink.persist(context, self.hook.run_url(self.collection_id, self.run_id))
        return self._export_pass(context)

    def _resolve_chain(self) -> None:
        """The rendered `run_ids` as the original run (`collection_id`, `run_id`) and `later_runs`,
        before any API call; one item is a plain single-run export."""
        if self.run_ids is None:
            return
        chain = parse_run_ids(self.run_ids, self.collection_id)
        self.collection_id, self.run_id = chain[0].collection_id, chain[0].run_id
        self.later_runs = chain[1:]

    def _export_triggering_runs(self, context: Any) -> dict[str, Any]:
        from ..tasks.triggering_runs import check_one_destination_per_run, destination_for, triggering_runs

        runs = triggering_runs(context, self.hook.base_url)
        check_one_destination_per_run(self.destination, runs)
        # Before any API call: every destination is checked, so a bad one fails before the first export.
        for run in runs:
            self._check_destination(destination_for(self.destination, run.collection_id, run.run_id))
        summaries = []
        for run in runs:
            self.collection_id, self.run_id = run.collection_id, run.run_id
            self.log.info(
                "Exporting run %s of collection %s (%s, announced by the %s).",
                run.run_id,
                run.collection_id,
                run.status,
                run.source,
            )
            ScrapingProsRunLink.persist(context, run.run_url)
            outcome = self._pass_or_wait(context, follow=False)  # finished runs: nothing to follow
            if outcome.summary is None:
                raise ScrapingProsError(f"Export of run {run.run_id} did not finish. {_RESUMES}")
            summaries.append(outcome.summary)
        result = summaries[0] if len(summaries) == 1 else {"exports": summaries}
        self._attach_to_outlets(context, result)
        return result

    def _run_destination(self) -> str:
        """The destination of the run being exported (`{run_id}` filled in), on every pass."""
        from ..tasks.triggering_runs import destination_for

        return destination_for(self.destination, *self._ids())

    def _ids(self) -> tuple[str, str]:
        if self.collection_id is None or self.run_id is None:  # execute() sets them before any pass
            raise ScrapingProsError("No run to export: collection_id and run_id are unset.")
        return self.collection_id, self.run_id

    def _check_destination(self, destination: str) -> None:
        # Before any API call: a destination that cannot work must not cost a listing of the run.
        from ..export.destination import check_destination

        check_destination(destination, self.storage_conn_id, probe=True)

    def execute_complete(self, context: Any, event: Any = None) -> dict[str, Any]:
        from ..runs.events import ExportWakeEvent, parse_event

        wake = parse_event(ExportWakeEvent, event, next_step=f". {_RESUMES}")
        if wake.status == "timeout":
            raise timeout_error(f"{wake.message.rstrip('.')}. {_RESUMES}", wake.deadline)
        if wake.status == "error":
            raise ScrapingProsError(f"{wake.message.rstrip('.')}. {_RESUMES}")
        self._resolve_chain()  # a deferred task is rendered again: resolve as in execute()
        if self.collection_id is None or self.run_id is None:  # runs from the triggering events
            return self._export_triggering_runs(context)
        return self._export_pass(context)

    # ------------------------------------------------------------------------------------------
    def _export_pass(self, context: Any) -> dict[str, Any]:
        # A merged export needs every run ended (the runner checks): nothing to follow.
        outcome = self._pass_or_wait(context, follow=self.follow and not self.later_runs)
        if outcome.finished and outcome.summary is not None:
            self._attach_to_outlets(context, outcome.summary)
            return outcome.summary
        self._defer_until_more(context, outcome)
        raise AssertionError("defer() returns only by raising")  # pragma: no cover

    def _pass_or_wait(self, context: Any, *, follow: bool) -> PassOutcome:
        """One pass; if another task is writing the same export, wait in the triggerer until its
        claim lapses (a killed worker's lease runs out, a live one finishes), then pass again."""
        from ..export.errors import ExportInProgressError

        try:
            return self._runner(context).run_pass(follow=follow)
        except ExportInProgressError as exc:
            if exc.retry_at is None:
                raise
            self.log.warning(
                "%s Waiting in the triggerer until %s, then looking again (the task's execution_timeout "
                "still applies).",
                exc.message,
                datetime.fromtimestamp(exc.retry_at, tz=timezone.utc).strftime("%H:%M:%S UTC"),
            )
            self._defer_until_more(context, None, not_before=exc.retry_at)
            raise AssertionError("defer() returns only by raising") from exc  # pragma: no cover

    def _runner(self, context: Any) -> ExportRunner:
        from ..export.runner import ExportRunner
        from ..tasks.cost import upstream_estimates

        collection_id, run_id = self._ids()
        costs = upstream_estimates(context, self)
        return ExportRunner(
            self.hook,
            self._store(),
            collection_id,
            run_id,
            self.options,
            on_expired=self.on_expired,
            workers=self.max_concurrency,
            log=self.log,
            cost=costs.get(collection_id),
            later_runs=self.later_runs,
            later_costs={
                r.collection_id: costs[r.collection_id] for r in self.later_runs if r.collection_id in costs
            },
            max_streams=self.max_streams,
        )

    def _store(self) -> ExportStore:
        # execute() probed the storage already; each pass still refuses a destination that cannot work
        from ..export.destination import check_destination
        from ..export.store import ExportStore

        return ExportStore(check_destination(self._run_destination(), self.storage_conn_id, probe=False))

    def _defer_until_more(
        self, context: Any, outcome: PassOutcome | None, *, not_before: float | None = None
    ) -> None:
        """Defer until more jobs finished (`outcome`), or (None) until `not_before` and any look."""
        total = outcome.run.total_requests if outcome is not None and outcome.run is not None else 0
        # Waking for less than one page of results would pay a pass's setup for a partial page.
        batch = self.follow_batch or max(MAX_PAGE_SIZE_WITH_RESULTS, total // 20)
        wake_at_done = min(total, outcome.recorded + batch) if outcome is not None else 0
        # Imported here: the trigger module loads the hook (requests, httpx), which DAG parsing never needs.
        from ..triggers.export import ScrapingProsExportFollowTrigger

        collection_id, run_id = self._ids()
        self.defer(
            trigger=ScrapingProsExportFollowTrigger(
                collection_id=collection_id,
                run_id=run_id,
                wake_at_done=wake_at_done,
                scrapingpros_conn_id=self.scrapingpros_conn_id,
                poll_interval=self.poll_interval,
                execution_deadline=execution_deadline(context, self.execution_timeout),
                not_before=not_before,
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
