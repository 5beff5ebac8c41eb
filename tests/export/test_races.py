"""Two exports into one destination at once, on file:// and on a versioned
moto S3, both layouts, 5 rounds each with start offsets of 0 s and a few hundred ms.

Different runs: exactly one export wins and its output is that of a clean export; the other is
refused with `ExportConflictError` naming both runs. The same run: both succeed (the later one
finds the export complete) or the later one is refused with `ExportInProgressError`; either way
the output equals a clean export and no output object is written twice (S3: one version per key)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_scrapingpros.export.errors import ExportConflictError, ExportInProgressError
from airflow_provider_scrapingpros.export.runner import PassOutcome
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from tests.export.conftest import S3_CONN_ID
from tests.export.helpers import CountingStore, make_run, mixed_requests, runner, tree

N = 40
ROUNDS = 5
OFFSETS = (0.0, 0.3, 0.0, 0.15, 0.0)  # seconds the second export starts after the first
OPTIONS: dict[str, dict[str, Any]] = {
    "files": {"layout": "files", "segment_size": 10},
    "jsonl": {"layout": "jsonl", "part_max_records": 15},
}
Outcome = PassOutcome | Exception


@pytest.fixture(scope="module")
def two_runs(sandbox: Any, api_env: None) -> Any:
    hook = ScrapingProsHook()
    runs = [make_run(hook, mixed_requests(N, prefix))[:2] for prefix in ("race-x", "race-y")]
    yield hook, runs
    hook.close()


@pytest.fixture(scope="module")
def clean_trees(two_runs: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Any]:
    hook, runs = two_runs
    out = {}
    for cid, rid in runs:
        for layout, opts in OPTIONS.items():
            root = ObjectStoragePath(f"file://{tmp_path_factory.mktemp('clean')}/{layout}")
            runner(hook, root, cid, rid, **opts).run_pass(follow=False)
            out[(rid, layout)] = tree(root)
    return out


def _race(
    hook: ScrapingProsHook, root: ObjectStoragePath, runs: list[tuple[str, str]], layout: str, offset: float
) -> tuple[list[Outcome], list[CountingStore]]:
    stores = [CountingStore(root), CountingStore(root)]
    outcomes: list[Outcome] = [RuntimeError("not run"), RuntimeError("not run")]
    start = threading.Barrier(2)

    def go(i: int) -> None:
        start.wait()
        if i == 1:
            time.sleep(offset)
        cid, rid = runs[i]
        try:
            outcomes[i] = runner(hook, root, cid, rid, store=stores[i], **OPTIONS[layout]).run_pass(
                follow=False
            )
        except Exception as exc:  # the outcome under test
            outcomes[i] = exc

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return outcomes, stores


def _outputs(keys: list[str]) -> Counter[str]:
    return Counter(k for k in keys if not k.startswith("_export/"))


@pytest.fixture(params=["file", "s3"])
def dest(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[[int], tuple[ObjectStoragePath, str | None]]:
    """A fresh destination per round: (root, bucket when on versioned S3)."""
    if request.param == "file":
        return lambda n: (ObjectStoragePath(f"file://{tmp_path}/{n}"), None)
    make_bucket = request.getfixturevalue("make_bucket")

    def s3(n: int) -> tuple[ObjectStoragePath, str | None]:
        bucket = make_bucket(versioned=True)
        return ObjectStoragePath(f"s3://{bucket}/out", conn_id=S3_CONN_ID), bucket

    return s3


def _one_version_per_output(versions: Callable[[str], dict[str, int]], bucket: str | None) -> None:
    if bucket is not None:
        extra = {k: n for k, n in versions(bucket).items() if n != 1 and not k.startswith("out/_export/")}
        assert extra == {}, "objects written twice"


@pytest.mark.parametrize("layout", ["files", "jsonl"])
def test_two_runs_into_one_destination_one_wins(
    layout: str, two_runs: Any, clean_trees: Any, dest: Any, versions: Any
) -> None:
    hook, runs = two_runs
    for n in range(ROUNDS):
        root, bucket = dest(n)
        outcomes, stores = _race(hook, root, runs, layout, OFFSETS[n])
        won = [i for i, o in enumerate(outcomes) if isinstance(o, PassOutcome)]
        assert len(won) == 1, f"round {n}: {outcomes}"
        winner, loser = won[0], 1 - won[0]
        refusal = outcomes[loser]
        assert isinstance(refusal, ExportConflictError), f"round {n}: {refusal!r}"
        message = str(refusal)
        assert runs[0][1] in message and runs[1][1] in message and "one destination per run" in message
        assert tree(root) == clean_trees[(runs[winner][1], layout)], f"round {n} (offset {OFFSETS[n]})"
        assert _outputs(stores[loser].keys) == Counter(), f"round {n}: the refused export wrote objects"
        assert max(_outputs(stores[winner].keys).values()) == 1
        _one_version_per_output(versions, bucket)


@pytest.mark.parametrize("layout", ["files", "jsonl"])
def test_the_same_run_twice_at_once_writes_each_object_once(
    layout: str, two_runs: Any, clean_trees: Any, dest: Any, versions: Any
) -> None:
    hook, runs = two_runs
    same = [runs[0], runs[0]]
    for n in range(ROUNDS):
        root, bucket = dest(n)
        outcomes, stores = _race(hook, root, same, layout, OFFSETS[n])
        finished = [o for o in outcomes if isinstance(o, PassOutcome)]
        refused = [o for o in outcomes if not isinstance(o, PassOutcome)]
        assert finished and all(o.finished and o.summary and o.summary["jobs"] == N for o in finished)
        for exc in refused:
            assert isinstance(exc, ExportInProgressError), f"round {n}: {exc!r}"
            assert "already being exported" in str(exc) and "wrote nothing" in str(exc)
        assert tree(root) == clean_trees[(runs[0][1], layout)], f"round {n} (offset {OFFSETS[n]})"
        written = _outputs(stores[0].keys) + _outputs(stores[1].keys)
        assert written and max(written.values()) == 1, f"round {n}: written twice {written.most_common(3)}"
        _one_version_per_output(versions, bucket)
