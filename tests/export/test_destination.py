"""The export operator checks its destination before any API call: a URI that
cannot work is one clear, non-retryable input error naming it, and nothing is written anywhere."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_scrapingpros.exceptions import ScrapingProsError, ScrapingProsInputError
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from airflow_provider_scrapingpros.operators.export import ScrapingProsExportResultsOperator
from airflow_provider_scrapingpros.sandbox import Sandbox
from tests.export.conftest import S3_CONN_ID
from tests.export.helpers import make_run, mixed_requests, tree
from tests.task_context import context_for


@pytest.fixture(scope="module")
def small_run(sandbox: Sandbox, api_env: None) -> Iterator[tuple[str, str]]:
    sandbox.control.reset()
    hook = ScrapingProsHook()
    cid, rid, _ = make_run(hook, mixed_requests(5, "dest"))
    yield cid, rid
    hook.close()


@pytest.fixture
def in_empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def _operator(run: tuple[str, str], destination: str, conn_id: str | None) -> Any:
    return ScrapingProsExportResultsOperator(
        task_id="export",
        collection_id=run[0],
        run_id=run[1],
        destination=destination,
        storage_conn_id=conn_id,
        follow=False,
    )


BAD = [
    ("scrape-lake/x/", S3_CONN_ID, "has no scheme, so it would be written under the worker's working"),
    ("/data/exports/x", None, "has no scheme"),
    ("", None, "is empty"),
    ("   ", None, "is empty"),
    ("{{ ds }}/x", None, "still holds a Jinja template"),
    ("file://relative/x", None, "is a relative local path"),
    ("file://", None, "is the filesystem root"),
    ("file:///", None, "is the filesystem root"),
    ("/", None, "has no scheme"),
    ("file:///dev/null", None, "exists and is not a folder"),
    ("s3://", S3_CONN_ID, "names no bucket"),
    ("s3:///x/", S3_CONN_ID, "names no bucket"),
    ("htps://bucket/x/", None, "cannot be opened ("),  # then fsspec's words, which vary by version
    ("s3://no-such-bucket-e2/x/", S3_CONN_ID, "is not writable (FileNotFoundError"),
    ("s3://some-bucket/x/", "no_such_storage_conn", "names storage_conn_id 'no_such_storage_conn', which"),
]


@pytest.mark.parametrize(("destination", "conn_id", "message"), BAD)
def test_bad_destinations_fail_before_any_api_call(
    destination: str,
    conn_id: str | None,
    message: str,
    small_run: tuple[str, str],
    sandbox: Sandbox,
    moto_endpoint: str,
    in_empty_cwd: Path,
) -> None:
    sandbox.control.clear_requests()
    with pytest.raises(ScrapingProsError) as caught:
        _operator(small_run, destination, conn_id).execute(context_for())
    error = caught.value
    assert type(error).__name__ == "ExportDestinationError", repr(error)
    assert isinstance(error, ScrapingProsInputError)  # an input error: the retry policy fails it at once
    assert str(error).startswith(f"destination {destination!r} {message}")
    if destination.startswith("htps"):
        assert "htps" in str(error).split(" (", 1)[1] and "Check the scheme's spelling" in str(error)
    assert sandbox.control.count() == 0  # not one API call
    assert list(in_empty_cwd.rglob("*")) == []  # nothing written under the working directory


def test_a_good_destination_is_probed_and_exported(
    small_run: tuple[str, str],
    make_bucket: Callable[..., str],
    versions: Callable[[str], dict[str, int]],
    tmp_path: Path,
) -> None:
    bucket = make_bucket(versioned=True)
    summary = _operator(small_run, f"s3://{bucket}/daily/x/", S3_CONN_ID).execute(context_for())
    assert (summary["jobs"], summary["destination"]) == (5, f"s3://{bucket}/daily/x")
    probes = [k for k in versions(bucket) if "/_export/probe-" in k]
    assert len(probes) == 1  # written once, then deleted: not in the output
    assert not any("probe" in k for k in tree(ObjectStoragePath(f"s3://{bucket}", conn_id=S3_CONN_ID)))
    local = tmp_path / "local"
    summary = _operator(small_run, f"file://{local}/", None).execute(context_for())
    assert summary["jobs"] == 5 and not (local / "_export").exists()
    assert sorted(p.name for p in local.iterdir() if p.name.startswith("_")) == [
        "_SUCCESS.json",
        "_manifest.jsonl",
    ]
