"""The mutable part of one export pass (runner.py holds the protocol and the bookkeeping).

A session turns fetched jobs into objects and manifest lines, hands objects to `BatchWriter`
(batched, a bounded number in flight: memory stays flat), and commits segments: `files` every 500
jobs, `jsonl` whenever a part closes, both when a following export pauses. Before a segment is
committed every write it covers has finished (`BatchWriter.barrier`), which is what lets a retry
trust committed segments.
"""

from __future__ import annotations

import json
import mimetypes
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..client.cost import CostEstimate
from ..client.models import Run
from .chain import ChainRun
from .content import ExportOptions
from .errors import ExportExpiredError, ExportIncompleteError
from .keys import KeyAllocator
from .layouts import FilesLayout, JsonlLayout
from .marker import build_marker, marker_summary, write_marker
from .parts import PartWriter
from .progress import Log, Progress, log_expired, log_retention
from .source import ResultSource
from .state import MANIFEST_KEY, STATE_DIR, ResumeState, piece_key
from .store import ExportStore, ObjectKey, sha256_of_stream
from .writer import BatchWriter

if TYPE_CHECKING:
    from .claim import Claim
    from .merge import ChainAttempts

SEGMENT_SIZE = 500
NDJSON = "application/x-ndjson"
OnExpired = Literal["fail", "record"]


@dataclass(frozen=True)
class ExportPlan:
    """What one export is and how it runs; the same for every pass of it."""

    collection_id: str
    run_id: str
    options: ExportOptions
    on_expired: OnExpired = "fail"
    segment_size: int = SEGMENT_SIZE
    progress_interval: float = 5.0
    cost: CostEstimate | None = None  # not part of the identity: a resume may know more or less of it
    later_runs: tuple[ChainRun, ...] = ()  # a merged export's round runs (merge.py), in round order

    @property
    def spec(self) -> dict[str, Any]:
        """The export's identity, recorded at the destination: a resume must match it exactly."""
        spec: dict[str, Any] = {"collection_id": self.collection_id, "run_id": self.run_id}
        if self.later_runs:  # absent for one run, so single-run destinations keep their bytes
            first = ChainRun(self.collection_id, self.run_id)
            spec["runs"] = [r.as_dict() for r in (first, *self.later_runs)]
        spec["options"] = self.options.fingerprint()
        return spec


class ExportSession:
    """The mutable part of one pass: open manifest lines, writes in flight, the open jsonl part."""

    def __init__(
        self,
        plan: ExportPlan,
        *,
        source: ResultSource,
        store: ExportStore,
        log: Log,
        state: ResumeState,
        allocator: KeyAllocator | None,
        workdir: Path,
        resumed: bool,
        total: int,
        claim: Claim | None = None,
    ) -> None:
        self.plan, self.source, self.store, self.log, self.state = plan, source, store, log, state
        self.claim = claim
        self.lines: list[dict[str, Any]] = []
        # An interrupted attempt may have stored the batch after the last segment: verify it.
        self.verify_objects = self.verify_part = resumed
        self.writer = BatchWriter(store)
        self.progress = Progress(
            log,
            run_id=plan.run_id,
            total=total,
            done_before=state.next_ordinal,
            interval=plan.progress_interval,
        )
        opts = plan.options
        self.parts = PartWriter(
            workdir,
            max_bytes=opts.part_max_bytes,
            max_records=opts.part_max_records,
            index=state.part["index"],
            records=state.part["records"],
            size=state.part["bytes"],
        )
        for piece in state.pieces:
            with store.open_read(piece) as stream:
                self.parts.restore(stream)
        # jsonl commits at part boundaries; the limit only bounds memory when few jobs have bodies
        self.segment_limit = plan.segment_size * (1 if opts.layout == "files" else 10)
        self.layout = (
            FilesLayout(opts, allocator or KeyAllocator())
            if opts.layout == "files"
            else JsonlLayout(opts, self.parts)
        )

    def drain(self, *, relist: bool = False) -> None:
        """Export every terminal job not yet recorded: those after the high-water mark or, with
        `relist`, any the listing holds that the manifest lacks (see `finish`)."""
        first = True
        since, skip = (None, self._recorded_ids()) if relist else (self.state.hwm, self.state.hwm_ids)
        for fetched in self.source.iter_fetched(since, skip):
            if first:
                log_retention(self.log, fetched.job.completed_at)
                first = False
            if fetched.state == "expired":
                if self.state.expired_max_age is None:
                    log_expired(self.log, fetched)
                self.state.note_expired_age(fetched.age_hours)
            entry, objects = self.layout.add(fetched)
            for key, data in objects:
                self.writer.add(_typed(key, entry), data, verify=self.verify_objects)
            self.state.record(entry)
            self.lines.append(entry)
            self.progress.add(1, entry["bytes"])
            if self.plan.options.layout == "jsonl" and self.parts.full:
                self._close_part()
                self._commit()
            elif len(self.lines) >= self.segment_limit:
                self._checkpoint()
        self.progress.report(final=True)

    def pause(self) -> None:
        self._checkpoint()
        self.log.info(
            "Exported %d job(s) so far; waiting for more jobs of run %s to finish.",
            self.state.next_ordinal,
            self.plan.run_id,
        )

    def finish(self, run: Run, chain: ChainAttempts | None = None) -> dict[str, Any]:
        self._close_and_commit()
        totals = self.state.totals
        if totals.jobs < run.total_requests:
            # The listing may have skipped jobs it showed later with an earlier `completed_at` than
            # the mark: a walk after the mark can never meet them. Walk the whole run once more.
            listed = totals.jobs
            self.log.warning(
                "Run %s has %d jobs but the listing gave %d; listing the whole run again for the "
                "missing ones.",
                run.run_id,
                run.total_requests,
                listed,
            )
            self.drain(relist=True)
            self._close_and_commit()
        if totals.jobs != run.total_requests:
            raise ExportIncompleteError(
                f"Run {run.run_id} is {run.status} with {run.total_requests} jobs, but the jobs listing gave "
                f"{totals.jobs}, also when listed again from the start; what was listed is stored and "
                "committed. Retry the task later: a retry lists the whole run again and adds only the "
                "missing jobs. If it persists, the API is still persisting jobs (`all_jobs_persisted` on "
                "the run) or lost some; contact support."
            )
        if self.claim is not None:
            self.claim.verify()
        manifest_size, manifest_sha = self._write_manifest()
        if totals.expired and self.plan.on_expired == "fail":
            self._fail_expired()
        doc = build_marker(
            self.plan.spec,
            run,
            totals,
            finished_at=self.state.hwm,
            manifest_bytes=manifest_size,
            manifest_sha256=manifest_sha,
            cost=self.plan.cost,
            rounds=chain.marker_rounds() if chain is not None else None,
            credits=chain.credits() if chain is not None else None,
        )
        if self.claim is not None:
            self.claim.verify()
        write_marker(self.store, doc)
        self.store.delete_tree(STATE_DIR)
        self.log.info("Export of run %s complete: %s", run.run_id, totals.counts())
        return marker_summary(self.store, doc)

    def close(self) -> None:
        self.writer.close()
        self.parts.close()

    # ------------------------------------------------------------------------------ internals
    def _close_and_commit(self) -> None:
        if self.parts.records:
            self._close_part()
        self._commit()

    def _recorded_ids(self) -> set[str]:
        """Job ids of every committed manifest line (read back only when re-listing a whole run)."""
        ids: set[str] = set()
        for key in self.state.segments:
            lines = self.store.iter_lines(key)
            next(lines)
            ids.update(json.loads(line)["job_id"] for line in lines)
        return ids

    def _close_part(self) -> None:
        local, size, sha = self.parts.finish()
        key = ObjectKey(self.parts.key, NDJSON, "gzip")
        self.store.put_file(key, local, size, sha, verify=self.verify_part)
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
        if self.claim is not None:
            self.claim.renew()
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
        self.store.put_file(ObjectKey(MANIFEST_KEY, NDJSON), local, size, sha, verify=True)
        local.unlink()
        return size, sha

    def _fail_expired(self) -> None:
        totals, age = self.state.totals, self.state.expired_max_age
        oldest = f"the oldest {age:.1f} h after completion" if age is not None else "age unknown"
        raise ExportExpiredError(
            f"{totals.expired} of {totals.jobs} jobs of run {self.plan.run_id} had result bodies past the "
            f"48 h retention ({oldest}); they are listed as `expired` in {self.store.uri(MANIFEST_KEY)}. "
            f"Everything still available was written ({totals.exported} exported). Export sooner after runs "
            "finish, or "
            "set on_expired='record' to accept the gap (the rerun writes only _SUCCESS.json).",
            expired=totals.expired,
            oldest_age_hours=age,
        )


def _typed(key: str, entry: dict[str, Any]) -> ObjectKey:
    """The key with its content type: the body's is in its manifest line; side files by suffix."""
    if key == entry.get("key") and entry.get("content_type"):
        return ObjectKey(key, entry["content_type"])
    guessed, _ = mimetypes.guess_type(key, strict=False)
    return ObjectKey(key, guessed or "application/octet-stream")
