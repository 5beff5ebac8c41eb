"""The mutable part of one export pass (engine.py holds the protocol and the bookkeeping).

A session turns fetched jobs into objects and manifest lines, hands objects to `BatchWriter`
(batched, a bounded number in flight: memory stays flat), and commits segments: `files` every 500
jobs, `jsonl` whenever a part closes, both when a following export pauses. Before a segment is
committed every write it covers has finished (`BatchWriter.barrier`), which is what lets a retry
trust committed segments.
"""

from __future__ import annotations

import json
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..models import Run
from .content import iso
from .errors import ExportExpiredError, ExportIncompleteError
from .keys import KeyAllocator
from .layouts import FilesLayout, JsonlLayout
from .parts import PartWriter
from .progress import Progress, log_expired, log_retention
from .state import MANIFEST_KEY, STATE_DIR, SUCCESS_KEY, ResumeState, piece_key
from .store import sha256_of_stream
from .writer import BatchWriter

if TYPE_CHECKING:
    from .engine import ExportEngine


class ExportSession:
    """The mutable part of one pass: open manifest lines, writes in flight, the open jsonl part."""

    def __init__(
        self,
        engine: ExportEngine,
        state: ResumeState,
        allocator: KeyAllocator | None,
        workdir: Path,
        *,
        resumed: bool,
        total: int,
    ) -> None:
        self.e, self.state, self.store = engine, state, engine.store
        self.lines: list[dict[str, Any]] = []
        # An interrupted attempt may have stored the batch after the last segment: verify it.
        self.verify_objects = self.verify_part = resumed
        self.writer = BatchWriter(self.store)
        self.progress = Progress(
            engine.log,
            run_id=engine.run_id,
            total=total,
            done_before=state.next_ordinal,
            interval=engine.progress_interval,
        )
        opts = engine.options
        self.parts = PartWriter(
            workdir,
            max_bytes=opts.part_max_bytes,
            max_records=opts.part_max_records,
            index=state.part["index"],
            records=state.part["records"],
            size=state.part["bytes"],
        )
        for piece in state.pieces:
            with self.store.open_read(piece) as stream:
                self.parts.restore(stream)
        # jsonl commits at part boundaries; the limit only bounds memory when few jobs have bodies
        self.segment_limit = engine.segment_size * (1 if opts.layout == "files" else 10)
        self.layout = (
            FilesLayout(opts, allocator or KeyAllocator())
            if opts.layout == "files"
            else JsonlLayout(opts, self.parts)
        )

    def drain(self) -> None:
        first = True
        for fetched in self.e.source.iter_fetched(self.state.hwm, self.state.hwm_ids):
            if first:
                log_retention(self.e.log, fetched.job.completed_at)
                first = False
            if fetched.state == "expired":
                if self.state.expired_max_age is None:
                    log_expired(self.e.log, fetched)
                self.state.note_expired_age(fetched.age_hours)
            entry, objects = self.layout.add(fetched)
            for key, data in objects:
                self.writer.add(key, data, verify=self.verify_objects)
            self.state.record(entry)
            self.lines.append(entry)
            self.progress.add(1, entry["bytes"])
            if self.e.options.layout == "jsonl" and self.parts.full:
                self._close_part()
                self._commit()
            elif len(self.lines) >= self.segment_limit:
                self._checkpoint()
        self.progress.report(final=True)

    def pause(self) -> None:
        self._checkpoint()
        self.e.log.info(
            "Exported %d job(s) so far; waiting for more jobs of run %s to finish.",
            self.state.next_ordinal,
            self.e.run_id,
        )

    def finish(self, run: Run) -> dict[str, Any]:
        if self.parts.records:
            self._close_part()
        self._commit()
        totals = self.state.totals
        if totals.jobs != run.total_requests:
            raise ExportIncompleteError(
                f"Run {run.run_id} is {run.status} with {run.total_requests} jobs, but the jobs listing gave "
                f"{totals.jobs}. Retry the task: it resumes and lists again. If it persists, the API is "
                "still persisting jobs (`all_jobs_persisted`); wait a few minutes."
            )
        manifest_size, manifest_sha = self._write_manifest()
        if totals.expired and self.e.on_expired == "fail":
            self._fail_expired()
        criterion = run.success_criterion.version if run.success_criterion else None
        created = datetime.fromtimestamp(run.created_at, timezone.utc) if run.created_at is not None else None
        doc = {
            **self.e.spec,
            "run_status": run.status,
            "success_criterion": criterion,
            "run_started_at": iso(created),
            "run_finished_at": iso(self.state.hwm),
            **totals.counts(),
            "manifest": MANIFEST_KEY,
            "manifest_bytes": manifest_size,
            "manifest_sha256": manifest_sha,
        }
        self.store.put(SUCCESS_KEY, (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
        self.store.delete_tree(STATE_DIR)
        self.e.log.info("Export of run %s complete: %s", run.run_id, totals.counts())
        return self.e.summary(doc)

    def close(self) -> None:
        self.writer.close()
        self.parts.close()

    # ------------------------------------------------------------------------------ internals
    def _close_part(self) -> None:
        local, size, sha = self.parts.finish()
        self.store.put_file(self.parts.key, local, size, sha, verify=self.verify_part)
        local.unlink()
        self.verify_part = False
        self.parts.next_part()

    def _checkpoint(self) -> None:
        """Commit without closing the jsonl part: its records so far are saved as a piece."""
        piece = None
        if self.lines and (local := self.parts.piece()) is not None:
            piece = piece_key(self.parts.index, self.state.next_ordinal - len(self.lines))
            self.store.put_file(piece, local)
            local.unlink()
        self._commit(piece)

    def _commit(self, piece: str | None = None) -> None:
        self.writer.barrier()
        if not self.lines:
            return
        self.state.part = {"index": self.parts.index, "records": self.parts.records, "bytes": self.parts.size}
        self.state.commit(self.store, self.lines, piece)
        self.lines = []
        self.verify_objects = False

    def _write_manifest(self) -> tuple[int, str]:
        with tempfile.NamedTemporaryFile(dir=self.parts.workdir, delete=False) as out:
            for key in self.state.segments:
                lines = self.store.iter_lines(key)
                next(lines)  # the segment header is state, not manifest
                out.writelines(lines)
        local = Path(out.name)
        with local.open("rb") as stream:
            size, sha = sha256_of_stream(stream)
        self.store.put_file(MANIFEST_KEY, local, size, sha, verify=True)
        local.unlink()
        return size, sha

    def _fail_expired(self) -> None:
        totals, age = self.state.totals, self.state.expired_max_age
        oldest = f"the oldest {age:.1f} h after completion" if age is not None else "age unknown"
        raise ExportExpiredError(
            f"{totals.expired} of {totals.jobs} jobs of run {self.e.run_id} had result bodies past the 48 h "
            f"retention ({oldest}); they are listed as `expired` in {self.store.uri(MANIFEST_KEY)}. "
            f"Everything still available was written ({totals.exported} exported). Export sooner after runs "
            "finish, or "
            "set on_expired='record' to accept the gap (the rerun writes only _SUCCESS.json).",
            expired=totals.expired,
            oldest_age_hours=age,
        )
