"""JSON Lines part files for the `jsonl` layout: `part-00000.jsonl.gz`, `part-00001.jsonl.gz`, …

Boundaries are a pure function of the record sequence: a part closes right after the record that
brings it to `max_records` records or to at least `max_bytes` uncompressed bytes. A part therefore
has the same records whether the export ran in one go, resumed after a crash, or followed a run
that was still completing.

Records are spooled uncompressed on local disk (memory stays flat whatever the part size) and
compressed by a background thread as the spool grows, in fixed 1 MiB slices at fixed offsets, into
a gzip stream with `mtime=0` and no file name: the same records always give the same compressed
bytes, however the spool was filled (one attempt, or pieces restored by a later one), and zlib,
which releases the GIL, works while the main thread prepares the next records.

A part still open when a following export pauses is saved as a *piece* (the records added since
the last piece, as a state object); the next attempt restores the pieces into its spool and goes on.
"""

from __future__ import annotations

import gzip
import os
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO

from .store import sha256_of_stream

_CHUNK = 1024 * 1024
_PART_LEVEL = 6
_PIECE_LEVEL = 1  # pieces are temporary state: favour speed


def part_key(index: int) -> str:
    return f"part-{index:05d}.jsonl.gz"


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
        self._compressor = ThreadPoolExecutor(1, thread_name_prefix="sp-export-gzip")  # one: keeps order
        self._slots = threading.BoundedSemaphore(4)
        self._open()

    def _open(self) -> None:
        self._spool: IO[bytes] = tempfile.TemporaryFile(dir=self.workdir)  # noqa: SIM115 (lives with the part)
        self._buffer = bytearray()  # the tail not yet in a 1 MiB slice
        self._end = 0  # uncompressed bytes of the part so far (spooled + buffered)
        self._spooled = 0
        self._piece_start = 0  # where the next piece begins
        fd, name = tempfile.mkstemp(dir=self.workdir, suffix=".jsonl.gz")
        self._gz_path = Path(name)
        self._gz_file = os.fdopen(fd, "wb")
        self._gz = gzip.GzipFile(
            filename="", mode="wb", fileobj=self._gz_file, compresslevel=_PART_LEVEL, mtime=0
        )
        self._jobs: list[Future[int]] = []

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
                self._append(chunk)
        self._piece_start = self._end

    def add(self, record: bytes) -> int:
        """Append one JSON line; returns its 0-based line number in the part."""
        line = self.records
        self._append(record)
        self.records += 1
        self.size += len(record)
        return line

    def _append(self, data: bytes) -> None:
        self._buffer += data
        self._end += len(data)
        while len(self._buffer) >= _CHUNK:
            chunk = bytes(self._buffer[:_CHUNK])
            del self._buffer[:_CHUNK]
            self._emit(chunk)

    def _emit(self, chunk: bytes) -> None:
        self._spool.write(chunk)  # kept for pieces
        self._spooled += len(chunk)
        self._slots.acquire()  # at most a few MiB wait for the compressor
        job = self._compressor.submit(self._gz.write, chunk)
        job.add_done_callback(lambda _: self._slots.release())
        self._jobs.append(job)

    def piece(self) -> Path | None:
        """Records added since the last piece, gzipped into a local file (None if there are none)."""
        if self._end == self._piece_start:
            return None
        self._spool.flush()
        fd, name = tempfile.mkstemp(dir=self.workdir, suffix=".piece.gz")
        with (
            os.fdopen(fd, "wb") as out,
            gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=_PIECE_LEVEL, mtime=0) as gz,
        ):
            offset = self._piece_start
            while offset < self._spooled:
                chunk = os.pread(self._spool.fileno(), min(_CHUNK, self._spooled - offset), offset)
                gz.write(chunk)
                offset += len(chunk)
            gz.write(self._buffer[offset - self._spooled :])
        self._piece_start = self._end
        return Path(name)

    def finish(self) -> tuple[Path, int, str]:
        """Finish the compressed part: (local path, size, sha256). Call `next_part()` after."""
        if self._buffer:
            self._emit(bytes(self._buffer))
            self._buffer.clear()
        for job in self._jobs:
            job.result()
        self._gz.close()
        self._gz_file.close()
        with self._gz_path.open("rb") as done:
            size, digest = sha256_of_stream(done)
        return self._gz_path, size, digest

    def next_part(self) -> None:
        self._discard()
        self.index += 1
        self.records = self.size = 0
        self._open()

    def _discard(self) -> None:
        for job in self._jobs:
            job.cancel()
        if not self._gz.closed:
            self._gz.close()
        self._spool.close()
        self._gz_file.close()
        self._gz_path.unlink(missing_ok=True)

    def close(self) -> None:
        self._compressor.shutdown(wait=True, cancel_futures=True)
        self._discard()
