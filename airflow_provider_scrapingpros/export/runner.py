"""One export pass: continue from the destination's state, write every terminal job not yet
written, then either finish (run terminal) or stop at a clean point to wait for more (follow mode).

Commit protocol (why a crash at any point ends byte-identical to a clean run):

1. objects of a batch of jobs are written (`files`: up to 500 jobs; `jsonl`: one part);
2. only then the batch's manifest lines are committed as a segment (state.py);
3. a pass starts from the committed segments, so the work of an interrupted attempt is redone
   from the same ordinal with the same keys and part boundaries (both depend only on the
   `completed_at` order of terminal jobs, which never changes);
4. objects the interrupted attempt may already have stored (at most one batch) are written with
   `verify`: same size and sha256 in storage means it is left alone, so nothing is written twice;
5. `_manifest.jsonl` is assembled from the segments, `_SUCCESS.json` (marker.py) goes last,
   `_export/` is removed. A rerun that finds `_SUCCESS.json` of the same run and options writes nothing.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..client.cost import CostEstimate
from ..client.models import Run
from ..exceptions import ScrapingProsError
from .chain import ChainRun
from .claim import Claim
from .content import ExportOptions
from .errors import ExportConflictError
from .keys import KeyAllocator
from .marker import SUCCESS_KEY, check_same_export, marker_summary, read_marker
from .merge import ChainAttempts, MergedSource
from .session import SEGMENT_SIZE, ExportPlan, ExportSession, OnExpired
from .source import ResultSource
from .state import STATE_DIR, load
from .store import ExportStore


@dataclass(frozen=True)
class PassOutcome:
    finished: bool
    summary: dict[str, Any] | None  # the task's return value, when finished
    recorded: int  # jobs in the manifest so far
    run: Run | None  # the run as seen at the start of this pass (None when already finished)


class ExportRunner:
    """Runs export passes of one run into one destination (`run_pass`, once per task attempt or wake-up)."""

    def __init__(
        self,
        hook: Any,
        store: ExportStore,
        collection_id: str,
        run_id: str,
        options: ExportOptions,
        *,
        on_expired: OnExpired = "fail",
        workers: int = 8,
        segment_size: int = SEGMENT_SIZE,
        log: Any = None,
        progress_interval: float = 5.0,
        cost: CostEstimate | None = None,
        later_runs: Sequence[ChainRun] = (),
        later_costs: Mapping[str, CostEstimate] | None = None,
        max_streams: int = 1,
    ) -> None:
        self.hook = hook
        self.store = store
        self.plan = ExportPlan(
            collection_id,
            run_id,
            options,
            on_expired,
            segment_size,
            progress_interval,
            cost,
            tuple(later_runs),
        )
        self.log = log or logging.getLogger(__name__)
        # A rescrape chain (merge.py): the original run is walked, each job's best attempt written.
        self.chain = (
            ChainAttempts(
                hook,
                [ChainRun(collection_id, run_id), *later_runs],
                costs={**(later_costs or {}), **({collection_id: cost} if cost else {})},
            )
            if later_runs
            else None
        )
        # `workers` bounds the parallel /result fetches; the source is the only part that fans out.
        self.source = (
            MergedSource(hook, self.chain, options, workers=workers)
            if self.chain is not None
            else ResultSource(hook, collection_id, run_id, options, workers=workers)
        )
        self.source.max_streams = max_streams

    def run_pass(self, *, follow: bool) -> PassOutcome:
        if (done := self._already_finished()) is not None:
            return PassOutcome(True, done, done["jobs"], None)
        if self.chain is not None:
            # Before the claim: a chain that does not match leaves the destination untouched, so
            # the corrected chain is not refused as "another export".
            self.chain.prepare()
            follow = False
        claim = Claim(self.store, self.plan.spec)
        resumed = claim.acquire()
        try:
            try:
                # Another export may have finished between the first look and the claim.
                done = self._already_finished()
            except ExportConflictError:
                if not resumed:  # the claim is ours alone: leave their finished export as it was
                    self.store.delete_tree(STATE_DIR)
                raise
            if done is not None:
                return PassOutcome(True, done, done["jobs"], None)
            return self._pass(claim, resumed, follow=follow)
        finally:
            claim.release()

    def _pass(self, claim: Claim, resumed: bool, *, follow: bool) -> PassOutcome:
        plan, store = self.plan, self.store
        allocator = KeyAllocator() if plan.options.layout == "files" else None
        state = load(store, plan.options.layout, allocator, self.log)
        if resumed:
            self.log.info(
                "Resuming the export of run %s: %d job(s) in %d committed segment(s) are kept; objects an "
                "interrupted attempt may have stored after them are checked before anything is written.",
                plan.run_id,
                state.next_ordinal,
                len(state.segments),
            )
        run = self.hook.get_run(plan.collection_id, plan.run_id)
        self.source.expected_total = run.total_requests  # bounds the walk: never more jobs than the run has
        # Parallel streams only over a finished run's listing: a following pass reads a moving tail.
        self.source.jobs_left = run.total_requests - state.next_ordinal if run.is_terminal else None
        if not run.is_terminal and not follow:
            raise ScrapingProsError(
                f"Run {plan.run_id} is still {run.status} ({run.done}/{run.total_requests} jobs done) and "
                "follow=False. Set follow=True to export while it completes, or export after the run ends."
            )
        written, checked, kept = store.writes, store.checked, store.kept
        with tempfile.TemporaryDirectory(prefix="sp-export-") as workdir:
            session = ExportSession(
                plan,
                source=self.source,
                store=store,
                log=self.log,
                state=state,
                allocator=allocator,
                workdir=Path(workdir),
                resumed=resumed,
                total=run.total_requests,
                claim=claim,
            )
            try:
                session.drain()
                if run.is_terminal:
                    return PassOutcome(True, session.finish(run, self.chain), state.next_ordinal, run)
                session.pause()
            finally:
                session.close()
                checks, same = store.checked - checked, store.kept - kept
                self.log.info(
                    "Objects this pass: %d written; %d checked against the destination first (%d found "
                    "already stored with the same size and sha256 and kept, %d missing or different).",
                    store.writes - written,
                    checks,
                    same,
                    checks - same,
                )
        return PassOutcome(False, None, state.next_ordinal, run)

    # ---------------------------------------------------------------------------- bookkeeping
    def _already_finished(self) -> dict[str, Any] | None:
        doc = read_marker(self.store)
        if doc is None:
            return None
        check_same_export(self.store, SUCCESS_KEY, doc, self.plan.spec)
        self.store.delete_tree(STATE_DIR)  # left behind if an attempt died right after _SUCCESS.json
        self.log.info(
            "Export of run %s at %s is already complete; nothing was rewritten.",
            self.plan.run_id,
            self.store.uri(),
        )
        return marker_summary(self.store, doc)
