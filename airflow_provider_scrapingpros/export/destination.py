"""The export's destination, checked before any API call.

Without these checks `scrape-lake/x/` (no scheme) was written under the worker's working directory,
silently ignoring `storage_conn_id`; `""`, `/`, `file://` and an unrendered `{{ ds }}` landed in the
working directory or at the filesystem root; `htps://…`, `s3://no-such-bucket/…` and `s3:///x/`
failed with raw fsspec errors on every retry. Here every one of them is one `ExportDestinationError`
naming the URI and the fix, and it is an input error, so the retry policy does not retry it.

Last, one small probe object is written under `_export/` and deleted: that proves the bucket
exists, the connection's credentials can write, and the path is a folder, before a run is read.
"""

from __future__ import annotations

import os
import re
import uuid
from typing import Any

from airflow.sdk import ObjectStoragePath

from .errors import ExportDestinationError, ExportDestinationUnavailableError

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://(.*)$", re.DOTALL)
_LOCAL = ("file", "local")
_TEMPLATE = re.compile(r"\{\{|\{%|\}\}")
_PROBE_DIR = "_export"  # the export's own folder: outputs and version counts exclude it


def _bad(uri: Any, problem: str, fix: str) -> ExportDestinationError:
    message = f"destination {uri!r} {problem}. {fix}"
    return ExportDestinationError(message, errors=[("destination", message)])


def _split(uri: Any) -> tuple[str, str]:
    if not isinstance(uri, str) or not uri.strip():
        raise _bad(uri, "is empty", "Give a folder URI such as 's3://bucket/scrapes/{{ run_id }}/'.")
    if _TEMPLATE.search(uri):
        raise _bad(
            uri,
            "still holds a Jinja template",
            "It is rendered only when passed as the operator's `destination` argument; in a manual "
            "Airflow 3 run there is no logical date, so use '{{ run_id }}' or "
            "'{{ dag_run.run_after | ds }}'.",
        )
    found = _SCHEME.match(uri)
    if found is None:
        raise _bad(
            uri,
            "has no scheme, so it would be written under the worker's working directory",
            "Prefix it with the store: 's3://…', 'gs://…', or 'file:///absolute/path' for a local disk.",
        )
    return found.group(1).lower(), found.group(2)


def _check_local(uri: str, rest: str) -> None:
    host, _, path = rest.partition("/")
    if host not in ("", "localhost"):
        raise _bad(uri, "is a relative local path", "Write an absolute one: 'file:///data/exports/run-1/'.")
    path = "/" + path
    if os.path.normpath(path) == "/":
        raise _bad(uri, "is the filesystem root", "Give a folder: 'file:///data/exports/run-1/'.")
    if os.path.exists(path) and not os.path.isdir(path):
        raise _bad(uri, "exists and is not a folder", "Give a folder path that is free or a directory.")


def _check_connection(uri: str, conn_id: str | None) -> None:
    if conn_id is None:
        return
    from airflow.sdk import BaseHook

    try:
        BaseHook.get_connection(conn_id)
    except Exception as exc:
        # by name: the class lives in airflow.sdk.exceptions on 3.3 and airflow.exceptions on 3.1
        if type(exc).__name__ == "AirflowNotFoundException":
            raise _bad(
                uri,
                f"names storage_conn_id {conn_id!r}, which does not exist",
                "Create that connection (Admin > Connections) or fix the id.",
            ) from None
        raise


def _open(uri: str, conn_id: str | None) -> ObjectStoragePath:
    try:
        root = ObjectStoragePath(uri, conn_id=conn_id)
        root.fs  # noqa: B018 (Airflow 3.1 resolves the scheme only here)
    except ValueError as exc:
        raise _bad(
            uri,
            f"cannot be opened ({exc})",
            "Check the scheme's spelling; a store other than s3/file needs its Airflow provider installed.",
        ) from None
    if root.protocol not in _LOCAL and not str(root.path).strip("/").split("/")[0]:
        raise _bad(uri, "names no bucket", "Write it as '<scheme>://<bucket>/<folder>/'.")
    return root


def _probe(uri: str, root: ObjectStoragePath) -> None:
    fs, base = root.fs, str(root.path).rstrip("/")
    folder = f"{base}/{_PROBE_DIR}"
    probe = f"{folder}/probe-{uuid.uuid4().hex}"
    local = (root.protocol or "file") in _LOCAL
    made = local and not os.path.exists(folder)
    try:
        if local:
            fs.makedirs(folder, exist_ok=True)
        fs.pipe_file(probe, b"probe\n")
        fs.rm_file(probe)
    except (FileNotFoundError, PermissionError, NotADirectoryError, IsADirectoryError) as exc:
        raise _bad(
            uri,
            f"is not writable ({type(exc).__name__}: {exc})",
            "Check that the bucket or folder exists and that storage_conn_id's credentials may write there.",
        ) from None
    except Exception as exc:
        raise ExportDestinationUnavailableError(
            f"Could not write a probe object to {uri!r} ({type(exc).__name__}: {exc}). Nothing was "
            "exported; a retry checks again."
        ) from exc
    if made:
        os.rmdir(folder)  # leave no trace the export would not have left


def check_destination(uri: Any, conn_id: str | None, *, probe: bool = True) -> ObjectStoragePath:
    """The destination as an `ObjectStoragePath`, or `ExportDestinationError` saying what to fix."""
    scheme, rest = _split(uri)
    if scheme in _LOCAL:
        _check_local(uri, rest)
    elif not rest.split("/", 1)[0]:
        raise _bad(uri, "names no bucket", f"Write it as '{scheme}://<bucket>/<folder>/'.")
    _check_connection(uri, conn_id)
    root = _open(uri, conn_id)
    if probe:
        _probe(uri, root)
    return root
