"""Objects of the `files` layout on their way to storage: batched, a few batches in flight.

Why batches: one storage call per object costs a thread hop and, on object stores, a request
scheduled alone; `ExportStore.put_many` hands a whole batch to fsspec, which runs it concurrently
on its event loop for S3/GCS. Writer threads (`ExportStore.write_threads`) keep storage busy while
the main thread prepares the next batch; at most `in_flight` batches wait, so memory stays bounded.
`barrier()` waits for everything written so far and re-raises the first failure: a segment is
committed only after it.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from threading import BoundedSemaphore

from .store import ExportStore

BATCH_OBJECTS = 100
BATCH_BYTES = 8 * 1024 * 1024


class BatchWriter:
    def __init__(self, store: ExportStore, *, in_flight: int = 4) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(store.write_threads, thread_name_prefix="sp-export-write")
        self._slots = BoundedSemaphore(in_flight)
        self._futures: list[Future[int]] = []
        self._batch: list[tuple[str, bytes]] = []
        self._bytes = 0
        self._verify = False

    def add(self, key: str, data: bytes, *, verify: bool) -> None:
        if verify != self._verify:
            self.flush()
            self._verify = verify
        self._batch.append((key, data))
        self._bytes += len(data)
        if len(self._batch) >= BATCH_OBJECTS or self._bytes >= BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self._batch:
            return
        batch, self._batch, self._bytes = self._batch, [], 0
        self._slots.acquire()
        future = self._pool.submit(self.store.put_many, batch, verify=self._verify)
        future.add_done_callback(lambda _: self._slots.release())
        self._futures.append(future)

    def barrier(self) -> None:
        self.flush()
        futures, self._futures = self._futures, []
        for future in futures:
            future.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
