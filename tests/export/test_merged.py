"""Merged export of a rescrape chain built by hand on the sandbox: one manifest line per original
request in the original order, the best attempt's bytes, every attempt listed, per-round counts in
`_SUCCESS.json`; reruns write nothing, crashes resume byte-identically, bad `run_ids` fail before
any API call."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_scrapingpros.exceptions import ScrapingProsError, ScrapingProsInputError
from airflow_provider_scrapingpros.export.chain import ChainRun, parse_run_ids
from airflow_provider_scrapingpros.export.errors import ExportChainError, ExportConflictError
from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook
from airflow_provider_scrapingpros.operators.export import ScrapingProsExportResultsOperator
from tests.export.chain_helpers import build_chain, expected_lines, merged_runner
from tests.export.helpers import CountingStore, export, make_run, read_manifest, start_run, tree
from tests.export.listing_proxy import listing_proxy
from tests.export.test_resume import Crash, RecordingStore, _crash_points, _outputs

LAYOUTS: dict[str, dict[str, Any]] = {
    "files": {"layout": "files", "segment_size": 10},
    "jsonl": {"layout": "jsonl", "part_max_records": 12, "segment_size": 10},
}


@pytest.fixture(scope="module")
def chain(sandbox: Any, api_env: None) -> Any:
    sandbox.control.reset()
    hook = ScrapingProsHook()
    built = build_chain(sandbox, hook)
    yield hook, built
    hook.close()


@pytest.fixture(scope="module")
def clean(chain: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A clean merged export per layout (tree, write sequence, summary) and the single-run export
    of the original run with the same options."""
    hook, built = chain
    out = {}
    for layout, opts in LAYOUTS.items():
        base = tmp_path_factory.mktemp(f"merged-{layout}")
        root = ObjectStoragePath(f"file://{base}/merged")
        store = RecordingStore(root)
        outcome = merged_runner(hook, root, built.runs, store=store, **opts).run_pass(follow=False)
        single = ObjectStoragePath(f"file://{base}/single")
        export(hook, single, built.runs[0].collection_id, built.runs[0].run_id, **opts)
        out[layout] = {
            "root": root,
            "tree": tree(root),
            "sequence": store.keys,
            "summary": outcome.summary,
            "single": single,
        }
    return out


def test_the_chain_has_every_kind_of_outcome(chain: Any) -> None:
    _, built = chain
    expected = expected_lines(built)
    wins = Counter(e["best_round"] for e in expected.values())
    assert set(wins) == {0, 1, 2}, wins
    tries = Counter(len(e["attempts"]) for e in expected.values())
    assert set(tries) == {1, 2, 3}, tries
    # some requests failed in every round: their last attempt represents them
    assert any(len(e["attempts"]) == 3 and not e["best"]["is_success"] for e in expected.values())


@pytest.mark.parametrize("layout", ["files", "jsonl"])
def test_one_line_per_original_request_with_the_best_attempt(
    layout: str, chain: Any, clean: dict[str, Any]
) -> None:
    _, built = chain
    done = clean[layout]
    lines, single = read_manifest(done["root"]), read_manifest(done["single"])
    expected = expected_lines(built)
    # the primary walk: the single-run export's lines, in its order, with its job ids and stamps
    assert [(x["job_id"], x["completed_at"]) for x in lines] == [
        (x["job_id"], x["completed_at"]) for x in single
    ]
    for line, alone in zip(lines, single, strict=True):
        want = expected[line["job_id"]]
        best = want["best"]
        assert line["best_round"] == want["best_round"]
        assert [{k: a[k] for k in want["attempts"][0]} for a in line["attempts"]] == want["attempts"]
        assert all(
            set(a) == {"round", "run_id", "job_id", "status", "is_success", "reason"}
            for a in line["attempts"]
        )
        assert (line["status"], line["is_success"], line["status_code"], line["block_reason"]) == (
            best["status"],
            best["is_success"],
            best["status_code"],
            best["block_reason"],
        )
        assert (line["sha256"], line["bytes"]) == (best["body_sha256"], best["body_size"])
        if want["best_round"] == 0:  # never retried, or the original was best: as a single-run line
            assert {k: v for k, v in line.items() if k not in ("best_round", "attempts")} == alone
        elif layout == "files" and line["key"] and alone["key"]:
            # same stem as the single-run export (custom_id, else the original job id)
            assert line["key"].rsplit(".", 1)[0] == alone["key"].rsplit(".", 1)[0]
    if layout == "files":
        root = done["root"]
        for line in lines:
            if line["key"]:
                body = (root / line["key"]).read_bytes()
                import hashlib

                assert hashlib.sha256(body).hexdigest() == expected[line["job_id"]]["best"]["body_sha256"]


@pytest.mark.parametrize("layout", ["files", "jsonl"])
def test_success_marker_has_rounds_and_merged_counts(layout: str, chain: Any, clean: dict[str, Any]) -> None:
    _, built = chain
    root = clean[layout]["root"]
    marker = json.loads((root / "_SUCCESS.json").read_text())
    expected = expected_lines(built)
    assert marker["runs"] == [r.as_dict() for r in built.runs]
    assert marker["rounds"] == [
        {
            "round": n,
            "collection_id": run.collection_id,
            "run_id": run.run_id,
            "jobs": len(built.truths[n]),
            "successful": sum(bool(j["is_success"]) for j in built.truths[n].values()),
        }
        for n, run in enumerate(built.runs)
    ]
    assert marker["jobs"] == len(built.truths[0]) == len(read_manifest(root))
    assert marker["successful"] == sum(bool(e["best"]["is_success"]) for e in expected.values())
    assert marker["successful"] > marker["rounds"][0]["successful"]
    # credits: each run's own figure (5 a request at most, charged per success), summed
    jobs = [r["jobs"] for r in marker["rounds"]]
    wins = [r["successful"] for r in marker["rounds"]]
    assert marker["credits"]["estimated_credits"] == 5 * sum(jobs)
    assert marker["credits"]["credits_used_range"] == [sum(wins), 5 * sum(wins)]
    summary = clean[layout]["summary"]
    assert summary["rounds"] == marker["rounds"] and summary["successful"] == marker["successful"]


def test_rerun_of_the_same_chain_writes_nothing_and_calls_no_api(
    chain: Any, clean: dict[str, Any], sandbox: Any
) -> None:
    hook, built = chain
    root = clean["files"]["root"]
    before = tree(root)
    store = CountingStore(root)
    sandbox.control.clear_requests()
    outcome = merged_runner(hook, root, built.runs, store=store, **LAYOUTS["files"]).run_pass(follow=False)
    assert outcome.finished and outcome.summary == clean["files"]["summary"]
    assert store.keys == [] and tree(root) == before
    assert sandbox.control.count() == 0


def test_another_chain_into_the_same_destination_is_a_conflict(chain: Any, clean: dict[str, Any]) -> None:
    hook, built = chain
    root = clean["files"]["root"]
    before = tree(root)
    with pytest.raises(ExportConflictError, match=r"runs .*merged chain"):
        merged_runner(hook, root, built.runs[:2], **LAYOUTS["files"]).run_pass(follow=False)
    with pytest.raises(ExportConflictError, match=r"another export \(runs .*\); this task exports run "):
        export(hook, root, built.runs[0].collection_id, built.runs[0].run_id, **LAYOUTS["files"])
    assert tree(root) == before


@pytest.mark.parametrize("layout", ["files", "jsonl"])
def test_crash_then_resume_is_byte_identical(
    layout: str, chain: Any, clean: dict[str, Any], tmp_path: Path
) -> None:
    hook, built = chain
    sequence = clean[layout]["sequence"]
    points = _crash_points(sequence)
    assert len(points) >= 8, points
    for n, crash_at in enumerate(points):
        root = ObjectStoragePath(f"file://{tmp_path}/{n}")
        first = RecordingStore(root, crash_at=crash_at)
        with pytest.raises(Crash):
            merged_runner(hook, root, built.runs, store=first, **LAYOUTS[layout]).run_pass(follow=False)
        second = RecordingStore(root)
        outcome = merged_runner(hook, root, built.runs, store=second, **LAYOUTS[layout]).run_pass(
            follow=False
        )
        assert outcome.finished
        assert tree(root) == clean[layout]["tree"], f"crash after write {crash_at} ({sequence[crash_at - 1]})"
        written = _outputs(first.keys) + _outputs(second.keys)
        assert written == _outputs(sequence), f"an output was written twice after crash at {crash_at}"


# ------------------------------------------------------------------------------ bad chains
def test_a_round_of_another_collection_fails_closed_before_writing(
    chain: Any, sandbox: Any, tmp_path: Path
) -> None:
    hook, built = chain
    cid, rid, _ = make_run(hook, [{"url": "https://example.com/elsewhere/1", "custom_id": "x"}])
    root = ObjectStoragePath(f"file://{tmp_path}/stray")
    with pytest.raises(
        ExportChainError, match=r"1 request\(s\) of the round runs are not in the original run"
    ):
        merged_runner(hook, root, [built.runs[0], ChainRun(cid, rid)], layout="files").run_pass(follow=False)
    assert tree(root) == {}
    # the corrected chain then exports into the same destination: nothing was claimed
    merged_runner(hook, root, built.runs, layout="files").run_pass(follow=False)
    assert json.loads((root / "_SUCCESS.json").read_text())["runs"] == [r.as_dict() for r in built.runs]


def test_a_key_twice_in_one_round_fails_closed(
    chain: Any, sandbox: Any, hook_for: Any, tmp_path: Path
) -> None:
    """The API keeps one request per (url, custom_id) in a collection, so a listing that repeats a
    key is made by a proxy: round 1's second job gets the first one's url and custom_id."""
    _, built = chain
    round_1 = built.runs[1].run_id

    def rewrite(_: int, page: dict[str, Any]) -> dict[str, Any]:
        items = page["items"]
        if len(items) > 1 and items[0]["run_public_id"] == round_1:
            items[1] = {**items[1], "url": items[0]["url"], "custom_id": items[0]["custom_id"]}
        return page

    root = ObjectStoragePath(f"file://{tmp_path}/twice")
    with listing_proxy(sandbox.base_url, rewrite) as proxy:
        hook = hook_for(proxy)
        with pytest.raises(
            ExportChainError, match=r"round 1\) has 1 job\(s\) whose url and custom_id repeat"
        ):
            merged_runner(hook, root, built.runs, layout="files").run_pass(follow=False)
    assert tree(root) == {}


def test_a_round_still_running_says_to_wait(chain: Any, sandbox: Any, tmp_path: Path) -> None:
    hook, built = chain
    cid, rid = start_run(hook, [{"url": "https://example.com/m/0?sp_latency_ms=50000", "custom_id": "m-000"}])
    root = ObjectStoragePath(f"file://{tmp_path}/early")
    if hook.get_run(cid, rid).is_terminal:
        pytest.skip("the run ended before the check")
    with pytest.raises(ScrapingProsError, match="rescrape task has finished"):
        merged_runner(hook, root, [built.runs[0], ChainRun(cid, rid)], layout="files").run_pass(follow=True)
    assert tree(root) == {}


BASE: dict[str, Any] = {"task_id": "export", "destination": "file:///tmp/never-written"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"collection_id": "c", "run_id": "r", "run_ids": ["r", "r1"]}, "run_id or run_ids, not both"),
        ({"run_ids": ["r0", "r1"]}, r"run_ids\[0\]: 'r0' is a bare run id, which needs collection_id"),
        ({"collection_id": "c", "run_ids": []}, "run_ids: is empty"),
        ({"collection_id": "c", "run_ids": {"run_id": "r"}}, "run_ids: must be a list"),
        ({"collection_id": "c", "run_ids": ["r", ""]}, r"run_ids\[1\]: must be a non-empty string"),
        ({"collection_id": "c", "run_ids": ["r", {"run_id": "x"}]}, r"run_ids\[1\]: needs both"),
        (
            {"collection_id": "c", "run_ids": ["r", {"run": "x", "run_id": "y"}]},
            r"unknown key\(s\) \['run'\]",
        ),
        (
            {"collection_id": "c", "run_ids": ["r", "r"]},
            r"run_ids\[1\]: run r of collection c is listed twice",
        ),
        (
            {"collection_id": "c", "run_ids": [{"collection_id": "d", "run_id": "r"}]},
            r"run_ids\[0\].collection_id: the original run r is of collection d",
        ),
        ({"collection_id": "c", "run_ids": "[r0, r1"}, "is not a list of run ids"),
    ],
)
def test_bad_run_ids_fail_at_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScrapingProsExportResultsOperator(**BASE, **kwargs)


def test_run_ids_as_rendered_text_and_dicts() -> None:
    want = [ChainRun("c", "r0"), ChainRun("c1", "r1"), ChainRun("c2", "r2")]
    python = "[{'collection_id': 'c', 'run_id': 'r0'}, {'collection_id': 'c1', 'run_id': 'r1'}, "
    python += "{'collection_id': 'c2', 'run_id': 'r2'}]"
    assert parse_run_ids(python, None) == want
    assert parse_run_ids(json.dumps([r.as_dict() for r in want]), "c") == want
    assert parse_run_ids(["r0", {"collection_id": "c1", "run_id": "r1"}], "c") == want[:2]
    assert parse_run_ids(("r0",), "c") == [ChainRun("c", "r0")]


def test_bad_rendered_run_ids_fail_before_any_api_call(sandbox: Any, api_env: None) -> None:
    op = ScrapingProsExportResultsOperator(
        **BASE, collection_id="c", run_ids="{{ ti.xcom_pull('rescrape')['runs'] }}"
    )
    sandbox.control.clear_requests()
    for rendered in ("None", "[]", "['r0', 7]", "{'run_id': 'r'}", "not a list"):
        op.run_ids = rendered  # what the template rendered
        with pytest.raises(ScrapingProsInputError, match="run_ids"):
            op.execute({})
    assert sandbox.control.count() == 0


def test_one_item_is_a_single_run_export(chain: Any) -> None:
    _, built = chain
    op = ScrapingProsExportResultsOperator(
        **BASE, collection_id=built.runs[0].collection_id, run_ids=[built.runs[0].run_id]
    )
    op._resolve_chain()
    assert (op.collection_id, op.run_id, op.later_runs) == (
        built.runs[0].collection_id,
        built.runs[0].run_id,
        [],
    )
    merged = ScrapingProsExportResultsOperator(**BASE, run_ids=[r.as_dict() for r in built.runs])
    merged._resolve_chain()
    assert (merged.collection_id, merged.run_id, merged.later_runs) == (
        built.runs[0].collection_id,
        built.runs[0].run_id,
        built.runs[1:],
    )


@pytest.mark.usefixtures("airflow_db")
def test_dag_with_the_rescrape_xcom_as_text_and_as_xcomarg(
    chain: Any, xcom: Any, tmp_path: Path, clean: dict[str, Any]
) -> None:
    """`dag.test()` (tests/dags/sp_rescrape.py): the chain from an upstream task's XCom, once through
    a non-native Jinja template, which renders the list as Python text, and once as an XComArg."""
    from tests.e2e.conftest import run_dag, task_states

    _, built = chain
    runs = [r.as_dict() for r in built.runs]
    dag_run = run_dag("sp_export_merged", {"runs": runs, "destination": f"file://{tmp_path}/"})
    assert task_states(dag_run) == {
        "chain": "success",
        "chain_runs": "success",
        "export_text": "success",
        "export_arg": "success",
    }
    for task_id, folder in (("export_text", "text"), ("export_arg", "arg")):
        summary = xcom(dag_run, task_id)
        assert summary["rounds"] == clean["files"]["summary"]["rounds"]
        assert summary["successful"] == clean["files"]["summary"]["successful"]
        # the same bytes as the runner-level merged export (segment size changes no byte)
        assert tree(ObjectStoragePath(f"file://{tmp_path}/{folder}")) == clean["files"]["tree"]
