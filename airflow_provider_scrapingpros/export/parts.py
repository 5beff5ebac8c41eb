"""JSON Lines part files for the `jsonl` layout: `part-00000.jsonl.gz`, `part-00001.jsonl.gz`, …

Boundaries are a pure function of the record sequence: a part closes right after the record that
brings it to `max_records` records or to at least `max_bytes` uncompressed bytes. A part therefore
has the same records whether the export ran in one go, resumed after a crash, or followed a run
that was still completing.

Records are spooled uncompressed on local disk (memory stays flat whatever the part size) and
compressed when the part closes, reading the spool in fixed 1 MiB chunks into a gzip stream with
`mtime=0` and no file name: the same records always give the same compressed bytes, however the
spool was filled (one attempt, or pieces restored by a later one).

A part still open when a following export pauses is saved as a *piece* (the records added since
the last piece, as a state object); the next attempt restores the pieces into its spool and goes on.
"""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path
from typing import IO

from .store import sha256_of_stream

_CHUNK = 1024 * 1024
_PIECE_LEVEL = 1  # pieces are temporary state: favour speed


def part_key(index: int) -> str:
    return f"part-{index:05d}.jsonl.gz"


def _gzip_copy(source: IO[bytes], target: IO[bytes], level: int) -> None:
    with gzip.GzipFile(filename="", mode="wb", fileobj=target, compresslevel=level, mtime=0) as gz:
        while chunk := source.read(_CHUNK):
            gz.write(chunk)


class PartWriter:
    def __init__(
        self,
        workdir: Path,
        *,
        max_bytes: int,
        max_records: int,
        index: int = 0,
        records: int = 0,
        size: int = 0,
    ) -> None:
        self.workdir = workdir
        self.max_bytes = max_bytes
        self.max_records = max_records
        self.index = index
        self.records = records
        self.size = size
        self._piece_start = 0  # spool offset where the next piece begins
        self._spool: IO[bytes] = tempfile.TemporaryFile(dir=workdir)  # noqa: SIM115 (lives as long as the part)

    @property
    def key(self) -> str:
        return part_key(self.index)

    @property
    def full(self) -> bool:
        return self.records >= self.max_records or self.size >= self.max_bytes

    def restore(self, piece: IO[bytes]) -> None:
        """Append a saved piece (gzip of raw records) to the spool; counters come from the state."""
        with gzip.GzipFile(fileobj=piece, mode="rb") as gz:
            while chunk := gz.read(_CHUNK):
                self._spool.write(chunk)
        self._piece_start = self._spool.tell()

    def add(self, record: bytes) -> int:
        """Append one JSON line; returns its 0-based line number in the part."""
        line = self.records
        self._spool.write(record)
        self.records += 1
        self.size += len(record)
        return line

    def piece(self) -> Path | None:
        """Records added since the last piece, gzipped into a local file (None if there are none)."""
        if self._spool.tell() == self._piece_start:
            return None
        path = Path(tempfile.mkstemp(dir=self.workdir, suffix=".piece.gz")[1])
        self._spool.seek(self._piece_start)
        with path.open("wb") as out:
            _gzip_copy(self._spool, out, _PIECE_LEVEL)
        self._piece_start = self._spool.tell()
        return path

    def finish(self) -> tuple[Path, int, str]:
        """Compress the part into a local file: (path, size, sha256)."""
        path = Path(tempfile.mkstemp(dir=self.workdir, suffix=".jsonl.gz")[1])
        self._spool.seek(0)
        with path.open("wb") as out:
            _gzip_copy(self._spool, out, 6)
        with path.open("rb") as done:
            size, digest = sha256_of_stream(done)
        return path, size, digest

    def next_part(self) -> None:
        self._spool.close()
        self._spool = tempfile.TemporaryFile(dir=self.workdir)  # noqa: SIM115
        self.index += 1
        self.records = self.size = self._piece_start = 0

    def close(self) -> None:
        self._spool.close()
