"""Resume state, kept in the destination itself so any worker (or a retry) can continue.

Files the export owns at the destination root:

* `_export/export.json` — what is being exported (collection, run, options fingerprint). Written
  before anything else; a different run or different options at the same destination is refused.
* `_export/segments/<first ordinal>.jsonl` — committed manifest lines. A segment is written only
  after every object its lines point to is stored; its first line is a header (`first`, `count`,
  the open jsonl part, the piece saved for it). Jobs are numbered (ordinal) in `completed_at` order.
* `_export/pieces/<part>-<first ordinal>.jsonl.gz` — records of a jsonl part still open when a
  following export paused.
* `_manifest.jsonl` (the segments' lines, concatenated) and `_SUCCESS.json` (marker.py), written
  last. `_export/` is deleted after `_SUCCESS.json` exists.

`load()` folds the valid segments in order into totals, the high-water mark (last `completed_at`
and the ids stamped with it), the open part and the used key stems. A segment that is partial
(torn local write) or out of sequence ends the fold: it and everything after it count as not done.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .content import STATES, json_line, parse_iso
from .keys import KeyAllocator
from .layouts import stem_of
from .store import ExportStore

STATE_DIR = "_export"
SPEC_KEY = f"{STATE_DIR}/export.json"
SEGMENTS = f"{STATE_DIR}/segments"
PIECES = f"{STATE_DIR}/pieces"
MANIFEST_KEY = "_manifest.jsonl"
# The per-run figures of the manifest, in the order `_SUCCESS.json` and the task summary list them.
COUNT_NAMES = ("jobs", "exported", "failed", "expired", "lost", "successful", "objects", "bytes")


def segment_key(first: int) -> str:
    return f"{SEGMENTS}/{first:010d}.jsonl"


def piece_key(part: int, first: int) -> str:
    return f"{PIECES}/{part:05d}-{first:010d}.jsonl.gz"


@dataclass
class Totals:
    jobs: int = 0
    exported: int = 0
    failed: int = 0
    expired: int = 0
    lost: int = 0
    successful: int = 0
    objects: int = 0
    bytes: int = 0
    _last_key: str | None = None  # jsonl: one part holds many records; count each part once

    def add(self, entry: dict[str, Any], layout: str) -> None:
        self.jobs += 1
        state = entry["state"]
        if state not in STATES:
            raise ValueError(f"unknown manifest state {state!r}")
        setattr(self, state, getattr(self, state) + 1)
        self.successful += bool(entry["is_success"])
        self.bytes += int(entry["bytes"])
        if layout == "files":
            self.objects += len(entry["objects"])
        elif entry["key"] is not None and entry["key"] != self._last_key:
            self.objects += 1
            self._last_key = entry["key"]

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNT_NAMES}


@dataclass
class ResumeState:
    layout: str
    totals: Totals = field(default_factory=Totals)
    next_ordinal: int = 0
    hwm: datetime | None = None
    hwm_ids: set[str] = field(default_factory=set)
    segments: list[str] = field(default_factory=list)
    part: dict[str, int] = field(default_factory=lambda: {"index": 0, "records": 0, "bytes": 0})
    pieces: list[str] = field(default_factory=list)
    expired_max_age: float | None = None

    def record(self, entry: dict[str, Any]) -> None:
        """Account for one manifest line, in ordinal order."""
        self.totals.add(entry, self.layout)
        self.next_ordinal += 1
        stamp = parse_iso(entry["completed_at"]) if entry["completed_at"] else None
        if stamp is not None and stamp == self.hwm:
            self.hwm_ids.add(entry["job_id"])
        elif stamp is not None and (self.hwm is None or stamp > self.hwm):
            # never backwards: a job found by re-listing the whole run can be older than the mark
            self.hwm, self.hwm_ids = stamp, {entry["job_id"]}

    def note_expired_age(self, age: float | None) -> None:
        if age is not None and (self.expired_max_age is None or age > self.expired_max_age):
            self.expired_max_age = age

    def commit(self, store: ExportStore, lines: list[dict[str, Any]], piece: str | None) -> None:
        """Write one segment for `lines` (already `record`ed); the caller stored their objects."""
        first = self.next_ordinal - len(lines)
        if piece is not None:
            self.pieces.append(piece)
        header = {
            "first": first,
            "count": len(lines),
            "part": dict(self.part) if self.layout == "jsonl" else None,
            "piece": piece,
            "expired_max_age_hours": self.expired_max_age,
        }
        key = segment_key(first)
        store.put(key, b"".join(json_line(item) for item in [header, *lines]))
        self.segments.append(key)


def load(store: ExportStore, layout: str, allocator: KeyAllocator | None, log: Any) -> ResumeState:
    state = ResumeState(layout=layout)
    for key in store.list(SEGMENTS):
        segment = _read_segment(store, key)
        if segment is None or segment[0]["first"] != state.next_ordinal:
            log.warning(
                "Resume: segment %s is incomplete or out of order; redoing from job %d.",
                key,
                state.next_ordinal,
            )
            break
        header, lines = segment
        for entry in lines:
            state.record(entry)
            if allocator is not None and (stem := stem_of(entry)) is not None:
                allocator.remember(stem)
        state.segments.append(key)
        if header["part"] is not None:
            state.part = header["part"]
        if header["piece"]:
            state.pieces.append(header["piece"])
        state.note_expired_age(header["expired_max_age_hours"])
    # Pieces belong to the part that is still open; older ones were folded into finished parts.
    prefix = f"{PIECES}/{state.part['index']:05d}-"
    state.pieces = [p for p in state.pieces if p.startswith(prefix)] if state.part["records"] else []
    return state


def _read_segment(store: ExportStore, key: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    data = store.read(key)
    if data is None:
        return None
    try:
        header, *lines = (json.loads(line) for line in data.decode("utf-8").splitlines())
    except ValueError:
        return None
    if not isinstance(header, dict) or header.get("count") != len(lines) or not data.endswith(b"\n"):
        return None
    return header, lines
