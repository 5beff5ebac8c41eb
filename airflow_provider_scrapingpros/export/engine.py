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
5. `_manifest.jsonl` is assembled from the segments, `_SUCCESS.json` goes last, `_export/` is
   removed. A rerun that finds `_SUCCESS.json` of the same run and options writes nothing.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..exceptions import ScrapingProsError
from ..models import Run
from .content import ExportOptions, dumps
from .errors import ExportConflictError
from .keys import KeyAllocator
from .session import ExportSession
from .source import ResultSource
from .state import MANIFEST_KEY, SPEC_KEY, STATE_DIR, SUCCESS_KEY, load
from .store import ExportStore

SEGMENT_SIZE = 500
OnExpired = str  # "fail" | "record"


@dataclass(frozen=True)
class PassOutcome:
    finished: bool
    summary: dict[str, Any] | None  # the task's return value, when finished
    recorded: int  # jobs in the manifest so far
    run: Run | None  # the run as seen at the start of this pass (None when already finished)


class ExportEngine:
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
    ) -> None:
        self.hook = hook
        self.store = store
        self.collection_id = collection_id
        self.run_id = run_id
        self.options = options
        self.on_expired = on_expired
        self.workers = workers
        self.segment_size = segment_size
        self.log = log or logging.getLogger(__name__)
        self.progress_interval = progress_interval
        self.source = ResultSource(hook, collection_id, run_id, options, workers=workers)

    @property
    def spec(self) -> dict[str, Any]:
        return {
            "collection_id": self.collection_id,
            "run_id": self.run_id,
            "options": self.options.fingerprint(),
        }

    def run_pass(self, *, follow: bool) -> PassOutcome:
        if (done := self._already_finished()) is not None:
            return PassOutcome(True, done, done["jobs"], None)
        resumed = self._claim()
        allocator = KeyAllocator() if self.options.layout == "files" else None
        state = load(self.store, self.options.layout, allocator, self.log)
        if resumed:
            self.log.info(
                "Resuming the export at job %d (%d segment(s) committed).",
                state.next_ordinal,
                len(state.segments),
            )
        run = self.hook.get_run(self.collection_id, self.run_id)
        if not run.is_terminal and not follow:
            raise ScrapingProsError(
                f"Run {self.run_id} is still {run.status} ({run.done}/{run.total_requests} jobs done) and "
                "follow=False. Set follow=True to export while it completes, or export after the run ends."
            )
        with tempfile.TemporaryDirectory(prefix="sp-export-") as workdir:
            session = ExportSession(
                self, state, allocator, Path(workdir), resumed=resumed, total=run.total_requests
            )
            try:
                session.drain()
                if run.is_terminal:
                    return PassOutcome(True, session.finish(run), state.next_ordinal, run)
                session.pause()
            finally:
                session.close()
        return PassOutcome(False, None, state.next_ordinal, run)

    # ---------------------------------------------------------------------------- bookkeeping
    def _already_finished(self) -> dict[str, Any] | None:
        raw = self.store.read(SUCCESS_KEY)
        if raw is None:
            return None
        doc = json.loads(raw)
        self._check_same(doc, SUCCESS_KEY)
        self.store.delete_tree(STATE_DIR)  # left behind if an attempt died right after _SUCCESS.json
        self.log.info(
            "Export of run %s at %s is already complete; nothing was rewritten.",
            self.run_id,
            self.store.uri(),
        )
        return self.summary(doc)

    def _claim(self) -> bool:
        """Record what this destination holds; True if an earlier attempt already started it."""
        raw = self.store.read(SPEC_KEY)
        if raw is not None:
            try:
                self._check_same(json.loads(raw), SPEC_KEY)
                return True
            except ValueError:  # torn write of a local file: nothing was written after it
                pass
        self.store.put(SPEC_KEY, (dumps(self.spec) + "\n").encode("utf-8"))
        return raw is not None

    def _check_same(self, doc: dict[str, Any], where: str) -> None:
        theirs = {k: doc.get(k) for k in self.spec}
        if theirs != self.spec:
            raise ExportConflictError(
                f"{self.store.uri(where)} belongs to another export (run {theirs.get('run_id')}, options "
                f"{theirs.get('options')}); this task exports run {self.run_id} with {self.spec['options']}. "
                "Use one destination per run (e.g. put {{ run_id }} or the run id in the path), or delete "
                "that folder to start over."
            )

    def summary(self, doc: dict[str, Any]) -> dict[str, Any]:
        counts = {
            k: doc[k]
            for k in ("jobs", "exported", "failed", "expired", "lost", "successful", "objects", "bytes")
        }
        return {
            "destination": self.store.uri(),
            "manifest": self.store.uri(MANIFEST_KEY),
            "success_marker": self.store.uri(SUCCESS_KEY),
            "collection_id": doc["collection_id"],
            "run_id": doc["run_id"],
            "run_status": doc["run_status"],
            "layout": doc["options"]["layout"],
            **counts,
        }
