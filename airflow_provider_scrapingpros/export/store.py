"""The export's only door to object storage: an `ObjectStoragePath` root and its fsspec filesystem.

Why the filesystem of the path and not `path.open()` per object: `ObjectStoragePath.open` wraps
every file to report hook lineage, which would record one asset per exported object (thousands);
the operator reports its one destination through `outlets` instead. Connection handling stays
Airflow's: the filesystem comes from `ObjectStoragePath(..., conn_id=...)`, so s3://, gs://, file://
and every other fsspec backend work the same way.

Writes never happen twice for the same content: with `verify=True` (used while a resumed export
crosses the region an interrupted attempt may have written) an object that already exists with
the same size and sha256 is left alone. Reading it back costs one GET, only in that region.
Every write is counted (`writes`), so tests can prove it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from airflow.sdk import ObjectStoragePath

from .content import sha256_hex

_READ_CHUNK = 1024 * 1024
_LOCAL_PROTOCOLS = ("", "file", "local")


def sha256_of_stream(stream: IO[bytes]) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(_READ_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


class ExportStore:
    def __init__(self, root: ObjectStoragePath) -> None:
        self.root = root
        self.fs: Any = root.fs
        self.protocol = root.protocol or "file"
        self.base = str(root.path).rstrip("/")
        self.writes = 0
        # Creating files in one directory from two threads serialises on the directory lock and
        # costs twice the CPU (measured on ext4); object stores gain from batches in parallel.
        self.write_threads = 1 if self.protocol in _LOCAL_PROTOCOLS else 2
        self._lock = threading.Lock()
        self._made_dirs: set[str] = set()

    def __repr__(self) -> str:
        return f"ExportStore({self.uri()!r})"

    def uri(self, key: str = "") -> str:
        """A plain URI (no connection id inside, unlike `str(ObjectStoragePath)`)."""
        path = f"{self.base}/{key}" if key else self.base
        return f"{self.protocol}://{path}"

    def _path(self, key: str) -> str:
        return f"{self.base}/{key}"

    # ------------------------------------------------------------------------------- writes
    def put(self, key: str, data: bytes, *, verify: bool = False) -> bool:
        """Write `data` at `key`; with `verify`, skip when identical bytes are already there.
        Returns whether a write happened."""
        if verify and self.matches(key, len(data), sha256_hex(data)):
            return False
        self._parent(key)
        self.fs.pipe_file(self._path(key), data)
        self._count()
        return True

    def put_many(self, items: list[tuple[str, bytes]], *, verify: bool = False) -> int:
        """Write a batch of small objects; returns how many were written. Async backends (S3, GCS…)
        get one `pipe` call, which fsspec runs concurrently on its own event loop; others write
        one by one (for a local disk that beats threads fighting over the GIL)."""
        if verify:
            items = [(k, d) for k, d in items if not self.matches(k, len(d), sha256_hex(d))]
        for key, _ in items:
            self._parent(key)
        if getattr(self.fs, "async_impl", False):
            self.fs.pipe({self._path(key): data for key, data in items})
            for _ in items:
                self._count()
        elif self.protocol in _LOCAL_PROTOCOLS:
            # Plain files, as fsspec's LocalFileSystem would write them, without its per-file
            # wrapper object: that was a third of the export's time per small object on local disk.
            for key, data in items:
                with open(self._path(key), "wb") as out:
                    out.write(data)
                self._count()
        else:
            for key, data in items:
                self.fs.pipe_file(self._path(key), data)
                self._count()
        return len(items)

    def put_file(
        self,
        key: str,
        local: Path,
        size: int | None = None,
        sha256: str | None = None,
        *,
        verify: bool = False,
    ) -> bool:
        """Upload a local file (multipart on S3 when large) without reading it into memory."""
        if verify and size is not None and sha256 is not None and self.matches(key, size, sha256):
            return False
        self._parent(key)
        self.fs.put_file(str(local), self._path(key))
        self._count()
        return True

    def matches(self, key: str, size: int, sha256: str) -> bool:
        if self.size(key) != size:
            return False
        with self.fs.open(self._path(key), "rb") as stream:
            return sha256_of_stream(stream) == (size, sha256)

    def _count(self) -> None:
        with self._lock:
            self.writes += 1

    def _parent(self, key: str) -> None:
        # Object stores have no directories; local file systems need them created first.
        if self.protocol not in _LOCAL_PROTOCOLS:
            return
        parent = self._path(key).rsplit("/", 1)[0]
        if parent in self._made_dirs:
            return
        self.fs.makedirs(parent, exist_ok=True)
        if len(self._made_dirs) > 10_000:  # keep memory bounded for runs with very many folders
            self._made_dirs.clear()
        self._made_dirs.add(parent)

    # ------------------------------------------------------------------------------- reads
    def size(self, key: str) -> int | None:
        try:
            info = self.fs.info(self._path(key))
        except FileNotFoundError:
            return None
        return None if info.get("type") == "directory" else int(info["size"])

    def read(self, key: str) -> bytes | None:
        try:
            data: bytes = self.fs.cat_file(self._path(key))
        except FileNotFoundError:
            return None
        return data

    def open_read(self, key: str) -> IO[bytes]:
        stream: IO[bytes] = self.fs.open(self._path(key), "rb")
        return stream

    def list(self, prefix: str) -> list[str]:
        """Keys under `prefix/`, sorted, relative to the root. Fresh: listing caches are dropped
        first, because another process (the attempt that crashed) may have written since."""
        folder = self._path(prefix)
        self.fs.invalidate_cache(folder)
        try:
            found: list[str] = self.fs.find(folder)
        except FileNotFoundError:
            return []
        head = f"{self.base}/"
        return sorted(p[len(head) :] for p in found if p.startswith(head))

    def iter_lines(self, key: str) -> Iterator[bytes]:
        with self.open_read(key) as stream:
            yield from stream

    def delete_tree(self, prefix: str) -> None:
        folder = self._path(prefix)
        self.fs.invalidate_cache(folder)
        if self.fs.exists(folder):
            self.fs.rm(folder, recursive=True)

    def refresh(self) -> None:
        self.fs.invalidate_cache(self.base)
