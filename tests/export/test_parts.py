"""jsonl parts: boundaries from the record sequence only; the same bytes however the spool was
filled (in one go, or restored from pieces saved at pauses)."""

from __future__ import annotations

import gzip
import hashlib
import io
import random
from pathlib import Path

from airflow_provider_scrapingpros.export.parts import PartWriter, part_key


def _records(n: int) -> list[bytes]:
    rng = random.Random(3)
    return [(f'{{"i":{i},"body":"' + "x" * rng.randint(10, 5000) + '"}\n').encode() for i in range(n)]


def _write_all(workdir: Path, records: list[bytes], pause_every: int | None) -> list[str]:
    """Feed records; at each pause save a piece and rebuild the writer from the pieces, as a new
    attempt would. Returns the sha256 of each finished part."""
    digests: list[str] = []
    writer = PartWriter(workdir, max_bytes=40_000, max_records=25)
    pieces: list[bytes] = []
    for n, record in enumerate(records, start=1):
        writer.add(record)
        if writer.full:
            path, size, sha = writer.finish()
            assert path.stat().st_size == size and hashlib.sha256(path.read_bytes()).hexdigest() == sha
            digests.append(sha)
            writer.next_part()
            pieces = []
        elif pause_every and n % pause_every == 0:
            piece = writer.piece()
            if piece is not None:
                pieces.append(piece.read_bytes())
            state = (writer.index, writer.records, writer.size)
            writer.close()
            writer = PartWriter(
                workdir, max_bytes=40_000, max_records=25, index=state[0], records=state[1], size=state[2]
            )
            for saved in pieces:
                writer.restore(io.BytesIO(saved))
    if writer.records:
        digests.append(writer.finish()[2])
    return digests


def test_parts_are_identical_with_or_without_pauses(tmp_path: Path) -> None:
    records = _records(400)
    one_go = _write_all(tmp_path, records, None)
    assert len(one_go) > 400 // 25  # the byte bound closed some parts before 25 records
    for pause_every in (1, 7, 24):
        assert _write_all(tmp_path, records, pause_every) == one_go


def test_boundaries_follow_the_bounds(tmp_path: Path) -> None:
    writer = PartWriter(tmp_path, max_bytes=1000, max_records=3)
    for size in (100, 100):
        writer.add(b"a" * size)
    assert not writer.full
    writer.add(b"b" * 10)
    assert writer.full and writer.key == part_key(0) == "part-00000.jsonl.gz"
    path, _, _ = writer.finish()
    assert gzip.decompress(path.read_bytes()) == b"a" * 200 + b"b" * 10
    header = path.read_bytes()[:10]
    assert header[4:8] == b"\0\0\0\0"  # mtime 0: no timestamp in the bytes
    writer.next_part()
    assert writer.add(b"c" * 2000) == 0 and writer.full and writer.key == "part-00001.jsonl.gz"


def test_progress_lines_every_interval_with_rate_and_eta() -> None:
    from airflow_provider_scrapingpros.export.progress import Progress

    lines: list[str] = []

    class Log:
        def info(self, msg: str, *args: object) -> None:
            lines.append(msg % args)

    now = [100.0]
    progress = Progress(Log(), run_id="r1", total=1000, done_before=200, interval=5.0, clock=lambda: now[0])
    for _ in range(400):  # 400 jobs of 10 KB, 64 per second: one line after 5 s, none per job
        now[0] += 1 / 64
        progress.add(1, 10 * 1024)
    assert lines == ["Export of run r1: 520/1000 jobs, 3.1 MB this pass, 64 results/s, ETA 8s"]
    progress.report(final=True)
    assert lines[-1] == "Export of run r1: 600/1000 jobs, 3.9 MB this pass, 64 results/s"
