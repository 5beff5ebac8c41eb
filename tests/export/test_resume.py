"""Crash at any point, resume: the destination ends byte-identical to a clean export and no output
object is written twice. Crashes are injected into storage writes (the store dies at write number
k: nothing after it reaches storage, like a killed worker), at points chosen from a clean export's
own write sequence: each kind of object, each segment commit and the writes around it; a torn
(half-written) object on a local file system; and one real SIGKILL of a worker process."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_scrapingpros.export.store import ExportStore
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from tests.export.helpers import make_run, mixed_requests, runner, tree

N = 120
OPTIONS: dict[str, dict[str, Any]] = {
    "files": {"layout": "files", "segment_size": 25},
    "jsonl": {"layout": "jsonl", "part_max_records": 30},
}


class Crash(Exception):
    pass


class RecordingStore(ExportStore):
    """Counts writes per key; with `crash_at`, write number `crash_at` is the last to land (or,
    with `torn`, lands half-written) and every later write or delete fails."""

    def __init__(self, root: ObjectStoragePath, crash_at: int | None = None, torn: bool = False) -> None:
        super().__init__(root)
        self.crash_at, self.torn = crash_at, torn
        self.keys: list[str] = []

    def _check(self, key: str) -> bool:
        """True if this write is the torn one."""
        if self.crash_at is not None and len(self.keys) >= self.crash_at:
            raise Crash(f"store died before writing {key}")
        self.keys.append(key)
        return self.torn and len(self.keys) == self.crash_at

    def put(self, key: str, data: bytes, *, verify: bool = False) -> bool:
        if verify and self.matches(key, len(data), hashlib.sha256(data).hexdigest()):
            return False
        if self._check(key):
            self._parent(key)
            self.fs.pipe_file(self._path(key), data[: len(data) // 2])
            raise Crash(f"torn write of {key}")
        return super().put(key, data)

    def put_many(self, items: list[tuple[str, bytes]], *, verify: bool = False) -> int:
        return sum(self.put(key, data, verify=verify) for key, data in items)

    def put_file(
        self,
        key: str,
        local: Path,
        size: int | None = None,
        sha256: str | None = None,
        *,
        verify: bool = False,
    ) -> bool:
        if verify and size is not None and sha256 is not None and self.matches(key, size, sha256):
            return False
        if self._check(key):
            self._parent(key)
            self.fs.pipe_file(self._path(key), local.read_bytes()[: max(1, size or 2) // 2])
            raise Crash(f"torn write of {key}")
        return super().put_file(key, local)

    def delete_tree(self, prefix: str) -> None:
        if self.crash_at is not None and len(self.keys) >= self.crash_at:
            raise Crash("store died before cleaning up")
        super().delete_tree(prefix)


def _crash_points(sequence: list[str]) -> list[int]:
    """1-based write numbers worth crashing after: first/last writes, every state commit and its
    neighbours, and the first of each kind of object."""
    points = {1, 2, 3, len(sequence) - 1, len(sequence)}
    seen_kinds: set[str] = set()
    for i, key in enumerate(sequence, start=1):
        kind = key.rsplit(".", 1)[-1] if not key.startswith("_export") else key.split("/")[1]
        if key.startswith(("_export/segments", "part-", "_manifest")):
            points |= {i - 1, i, i + 1}
        if kind not in seen_kinds:
            seen_kinds.add(kind)
            points.add(i)
    return sorted(p for p in points if 1 <= p <= len(sequence))


@pytest.fixture(scope="module")
def small_run(sandbox: Any, api_env: None) -> Any:
    sandbox.control.reset()
    hook = ScrapingProsHook()
    cid, rid, _ = make_run(hook, mixed_requests(N, "r"))
    yield hook, cid, rid
    hook.close()


@pytest.fixture(scope="module")
def clean(small_run: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A clean export per layout: its final tree and its write sequence."""
    hook, cid, rid = small_run
    out = {}
    for layout, opts in OPTIONS.items():
        root = ObjectStoragePath(f"file://{tmp_path_factory.mktemp('clean')}/{layout}")
        store = RecordingStore(root)
        runner(hook, root, cid, rid, store=store, **opts).run_pass(follow=False)
        out[layout] = {"tree": tree(root), "sequence": store.keys}
    return out


def _outputs(keys: list[str]) -> Counter[str]:
    return Counter(k for k in keys if not k.startswith("_export/"))


@pytest.mark.parametrize("layout", ["files", "jsonl"])
def test_crash_at_every_kind_of_write_then_resume(
    layout: str, small_run: Any, clean: dict[str, Any], tmp_path: Path
) -> None:
    hook, cid, rid = small_run
    sequence = clean[layout]["sequence"]
    points = _crash_points(sequence)
    assert len(points) >= min(12, len(sequence)), points  # segments, parts, manifest, marker covered
    for n, crash_at in enumerate(points):
        root = ObjectStoragePath(f"file://{tmp_path}/{n}")
        first = RecordingStore(root, crash_at=crash_at)
        with pytest.raises(Crash):
            runner(hook, root, cid, rid, store=first, **OPTIONS[layout]).run_pass(follow=False)
        second = RecordingStore(root)
        outcome = runner(hook, root, cid, rid, store=second, **OPTIONS[layout]).run_pass(follow=False)
        assert outcome.finished
        assert tree(root) == clean[layout]["tree"], f"crash after write {crash_at} ({sequence[crash_at - 1]})"
        written = _outputs(first.keys) + _outputs(second.keys)
        assert written == _outputs(sequence), f"an output was written twice after crash at {crash_at}"


@pytest.mark.parametrize("layout", ["files", "jsonl"])
def test_torn_writes_are_redone(layout: str, small_run: Any, clean: dict[str, Any], tmp_path: Path) -> None:
    """A worker killed in the middle of a local write leaves a truncated file: the retry notices
    (size/sha256) and rewrites it, including a torn segment of the resume state."""
    hook, cid, rid = small_run
    sequence = clean[layout]["sequence"]
    torn_points = [
        sequence.index(next(k for k in sequence if k.startswith(p))) + 1
        for p in ("_export/segments", "part-" if layout == "jsonl" else "r-", "_manifest")
    ]
    for crash_at in torn_points:
        root = ObjectStoragePath(f"file://{tmp_path}/{crash_at}")
        with pytest.raises(Crash):
            runner(
                hook, root, cid, rid, store=RecordingStore(root, crash_at, torn=True), **OPTIONS[layout]
            ).run_pass(follow=False)
        runner(hook, root, cid, rid, **OPTIONS[layout]).run_pass(follow=False)
        assert tree(root) == clean[layout]["tree"], sequence[crash_at - 1]


def test_sigkill_of_the_worker_then_retry(small_run: Any, clean: dict[str, Any], tmp_path: Path) -> None:
    """A real kill -9 in the middle of an export (another process), then a retry here."""
    hook, cid, rid = small_run
    root = ObjectStoragePath(f"file://{tmp_path}/killed")
    kill_at = len(clean["files"]["sequence"]) // 2
    script = textwrap.dedent(f"""
        import os, signal
        from airflow.sdk import ObjectStoragePath
        from airflow_provider_scrapingpros.export.store import ExportStore
        from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
        from tests.export.helpers import runner

        class Dying(ExportStore):
            def _count(self):
                super()._count()
                if self.writes == {kill_at}:
                    os.kill(os.getpid(), signal.SIGKILL)

        root = ObjectStoragePath("{root}")
        runner(ScrapingProsHook(), root, "{cid}", "{rid}", store=Dying(root), layout="files",
               segment_size=25).run_pass(follow=False)
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).parents[2],
        env=os.environ.copy(),
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    partial = tree(root)
    assert "_SUCCESS.json" not in partial and any(k.startswith("_export/segments") for k in partial)
    retry = RecordingStore(root)
    runner(hook, root, cid, rid, store=retry, **OPTIONS["files"]).run_pass(follow=False)
    assert tree(root) == clean["files"]["tree"]
    final = clean["files"]["tree"]
    complete = {k for k, sha in partial.items() if final.get(k) == sha and not k.startswith("_export/")}
    assert len(complete) >= kill_at // 2
    # complete objects the killed worker stored are kept; only files torn by the kill are rewritten
    assert [k for k in retry.keys if k in complete] == []
