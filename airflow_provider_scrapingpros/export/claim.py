"""Who is writing this destination right now: the claim in `_export/export.json`.

Two exports into one destination at once would interleave keys and manifest lines, so a pass owns
the destination before it writes anything, and checks that it still does right before
`_manifest.jsonl` and `_SUCCESS.json`.

* Claiming is an exclusive create where the store has one (`ExportStore.create`: a hard link of a
  finished file on local disk, `If-None-Match: *` on S3), so of two passes started together exactly
  one creates the document; the other reads it whole and refuses: another run or other options is
  an `ExportConflictError`, the same export still being written is `ExportInProgressError`.
* A pass that died (exception, kill -9, lost worker) must not block its retry. On a local disk the
  owner holds an advisory lock on `_export/` for the whole pass, which the kernel drops when the
  process dies: a retry that gets the lock takes over without writing anything. Elsewhere the
  document names its owner (host, pid and the pid's start time, token, time); the owner is dead when
  it is this host and the process is gone — or the pid now belongs to a process started later (a
  container restarted with the same host name reuses pids) — or is this process and the pass ended,
  or when another host has not renewed the claim for `LEASE_S` seconds. Renewals happen at segment
  commits, at most every `RENEW_S`.
* A refusal says when to look again (`ExportInProgressError.retry_at`): a renewal period from now,
  or when another host's claim lapses if that is sooner. The export operator waits until then in the triggerer
  instead of failing its try, so a retry that lands while a killed worker's lease runs out
  still takes over, and a second attempt beside a live one ends when that one has finished.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
import uuid
from typing import Any, NoReturn

from .errors import ExportConflictError, ExportInProgressError
from .marker import SUCCESS_KEY, check_same_export
from .state import SPEC_KEY, STATE_DIR
from .store import ExportStore

LEASE_S = 120.0
RENEW_S = 30.0
_HOST = socket.gethostname()
# Tokens of passes running in this process: a claim naming this pid is alive only if listed here.
_LIVE: set[str] = set()
_LIVE_LOCK = threading.Lock()


def _pid_started(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), None where /proc is not there."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()  # the command name may hold spaces
        return int(fields[19])  # field 22 of stat; fields[0] here is field 3
    except (OSError, IndexError, ValueError):
        return None


_STARTED = _pid_started(os.getpid())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


class Claim:
    def __init__(self, store: ExportStore, spec: dict[str, Any]) -> None:
        self.store, self.spec = store, spec
        self.token = uuid.uuid4().hex
        self._lock_fd: int | None = None
        self._renewed = 0.0

    def _doc(self) -> bytes:
        owner = {
            "token": self.token,
            "host": _HOST,
            "pid": os.getpid(),
            "pid_started": _STARTED,
            "renewed_at": time.time(),
        }
        return (json.dumps({**self.spec, "owner": owner}, sort_keys=True) + "\n").encode("utf-8")

    def _read(self) -> dict[str, Any] | None:
        return self._read_json(SPEC_KEY)

    def _read_json(self, key: str) -> dict[str, Any] | None:
        raw = self.store.read(key)
        if raw is None:
            return None
        try:
            doc = json.loads(raw)
        except ValueError:  # torn by a store without atomic writes: its writer had got no further
            return None
        return doc if isinstance(doc, dict) else None

    def acquire(self) -> bool:
        """Own the destination; True if an earlier (dead) pass of this export had started it."""
        with _LIVE_LOCK:
            _LIVE.add(self.token)
        self._renewed = time.monotonic()
        locked = self._lock_local()
        if self.store.create(SPEC_KEY, self._doc()):
            return False
        doc = self._read()
        if doc is not None:
            check_same_export(self.store, SPEC_KEY, doc, self.spec)
        if locked:
            if doc is None:  # torn by a pass that died mid-write: the lock says it is gone
                self.store.put(SPEC_KEY, self._doc())
            return doc is not None  # otherwise the lock alone is the ownership: nothing to write
        if doc is not None and self._alive(doc.get("owner")):
            self._refuse_busy(doc.get("owner"))
        self.store.put(SPEC_KEY, self._doc())  # take over from a dead owner, then make sure we won
        self.verify()
        return doc is not None

    def _lock_local(self) -> bool:
        folder = self.store.local_path(STATE_DIR)
        if folder is None:
            return False
        os.makedirs(folder, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            self._refuse_held_lock()
        self._lock_fd = fd
        return True

    def _refuse_held_lock(self) -> NoReturn:
        """Another pass holds the lock. Name it — the holder writes its document right after locking —
        or, if it finished meanwhile (its `_export/` gone, `_SUCCESS.json` there), the export it left:
        another run's finished export is a conflict, not an export in progress."""
        for _ in range(50):
            if (doc := self._read()) is not None:
                check_same_export(self.store, SPEC_KEY, doc, self.spec)
                self._refuse_busy(doc.get("owner"))
            if (done := self._read_json(SUCCESS_KEY)) is not None:
                check_same_export(self.store, SUCCESS_KEY, done, self.spec)
                self._refuse_busy(None)
            time.sleep(0.02)
        self._refuse_busy(None)

    def _alive(self, owner: Any) -> bool:
        if not isinstance(owner, dict):
            return False
        if owner.get("host") == _HOST:
            pid = int(owner.get("pid", -1))
            if pid == os.getpid():
                with _LIVE_LOCK:
                    return owner.get("token") in _LIVE
            started = owner.get("pid_started")
            if started is not None and _pid_started(pid) not in (None, started):
                return False  # the pid was reused: the owner is gone
            return _pid_alive(pid)
        return time.time() - float(owner.get("renewed_at", 0)) < LEASE_S

    def _refuse_busy(self, owner: Any) -> NoReturn:
        self.release()
        who = (
            f"host {owner.get('host')}, pid {owner.get('pid')}"
            if isinstance(owner, dict)
            else "another process on this host"
        )
        raise ExportInProgressError(
            f"Run {self.spec['run_id']} is already being exported to {self.store.uri()} by another task "
            f"({who}); this attempt wrote nothing. Let that export finish: a rerun then sees "
            f"{self.store.uri('_SUCCESS.json')} and succeeds without writing. If that task is dead, retry "
            f"after {LEASE_S:.0f} s.",
            retry_at=_look_again_at(owner),
        )

    def verify(self) -> None:
        """Refuse to go on unless the destination is still ours (checked before manifest and marker)."""
        doc = self._read()
        if doc is None:
            raise ExportConflictError(
                f"{self.store.uri(SPEC_KEY)} disappeared while run {self.spec['run_id']} was being exported: "
                "another export removed or finished this destination. Use one destination per run."
            )
        check_same_export(self.store, SPEC_KEY, doc, self.spec)
        owner = doc.get("owner")
        if self._lock_fd is None and (not isinstance(owner, dict) or owner.get("token") != self.token):
            self._refuse_busy(owner)

    def renew(self) -> None:
        """Keep a claim without a local lock fresh for other hosts (at most one write per RENEW_S)."""
        if self._lock_fd is not None or time.monotonic() - self._renewed < RENEW_S:
            return
        self.verify()
        self.store.put(SPEC_KEY, self._doc())
        self._renewed = time.monotonic()

    def release(self) -> None:
        with _LIVE_LOCK:
            _LIVE.discard(self.token)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _look_again_at(owner: Any) -> float:
    """When a refused pass should look again: a renewal period on (the owner may have finished by
    then), or sooner when another host's claim lapses before that (its last renewal plus the lease)."""
    now = time.time()
    soon = now + RENEW_S
    if isinstance(owner, dict) and owner.get("host") != _HOST:
        try:
            return min(soon, max(now, float(owner.get("renewed_at", 0)) + LEASE_S) + 1.0)
        except (TypeError, ValueError):
            pass
    return soon
