"""Every code block in the README is run here or copied from a file the tests run."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import typing
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import BaseModel

from airflow_provider_scrapingpros.exceptions import ScrapingProsInputError
from airflow_provider_scrapingpros.sandbox import Sandbox
from airflow_provider_scrapingpros.sandbox.control import SandboxControl
from tests.e2e.conftest import airflow_db, sp_conn, task_states, xcom  # noqa: F401 (fixtures)
from tests.export.conftest import make_bucket, moto_endpoint  # noqa: F401 (fixtures)

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.S)


def blocks(lang: str) -> list[str]:
    return [body for kind, body in BLOCKS if kind == lang]


# The README's complete DAG file: run end to end below (a manual run, no logical date), so its excerpts count
# as tested code like the example DAGs'.
README_DAG = next((b for b in blocks("python") if b.startswith("from __future__ import annotations")), "")
TESTED_SOURCES = "\n".join(
    [*(p.read_text() for p in [*ROOT.glob("example_dags/*.py"), *ROOT.glob("tests/dags/*.py")]), README_DAG]
)


def test_readme_opens_with_the_two_commands() -> None:
    first = [line.split("#")[0].strip() for line in README.splitlines()[:2]]
    assert first == ["make demo", "make test"]


@pytest.mark.parametrize("snippet", blocks("python"))
def test_python_blocks_are_copied_from_tested_dags(snippet: str) -> None:
    assert textwrap.indent(textwrap.dedent(snippet), "    ") in TESTED_SOURCES or snippet in TESTED_SOURCES


def test_sandbox_cli_options_in_the_readme_exist() -> None:
    help_text = subprocess.run(
        [sys.executable, "-m", "airflow_provider_scrapingpros.sandbox", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for option in set(re.findall(r"`(--[a-z-]+)", README)) | set(
        re.findall(r" (--[a-z-]+)", "\n".join(blocks("bash")))
    ):
        assert option in help_text, option


def test_connection_env_vars_in_the_readme_are_valid(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_scrapingpros.hooks.scrapingpros import ScrapingProsHook

    values = re.findall(r"AIRFLOW_CONN_SCRAPINGPROS_DEFAULT='(.*?)'", "\n".join(blocks("bash")))
    assert len(values) == 2
    sandbox_conn = json.loads(values[1].replace("127.0.0.1:8000", sandbox.base_url.removeprefix("http://")))
    monkeypatch.setenv("AIRFLOW_CONN_SCRAPINGPROS_DEFAULT", json.dumps(sandbox_conn))
    ok, message = ScrapingProsHook().test_connection()
    assert ok, message
    assert json.loads(values[0])["host"] == "https://api.scrapingpros.com"


def test_rules_and_fault_profile_examples_are_accepted(sp: SandboxControl, sandbox: Sandbox) -> None:
    rules, profile = [json.loads(b) for b in blocks("json") if b.lstrip().startswith(("[", '{"seed"'))]
    sp.set_rules(rules)
    sp.set_faults(profile)
    assert sp.faults()["rules"][0]["error_5xx"] == 0.2
    advanced = requests.post(
        f"{sandbox.base_url}/_sandbox/clock/advance", json={"seconds": 176400}, timeout=10
    )
    assert advanced.status_code == 200


def test_run_result_example_matches_the_model() -> None:
    from airflow_provider_scrapingpros.client.cost import CostReport
    from airflow_provider_scrapingpros.runs.verdict import RunResult

    (example,) = [json.loads(b) for b in blocks("json") if '"run_url"' in b]
    # the same counts as the daily example's run in tests/e2e/test_examples.py
    cost = {k: example.pop(k) for k in list(CostReport.model_fields)}
    assert RunResult.model_validate(example).model_dump() == example
    assert CostReport.model_validate(cost).model_dump(mode="json") == cost
    assert (example["total_requests"], example["success_requests"], example["outcome"]) == (
        300,
        254,
        "partial",
    )


# --------------------------------------------------------------------------------------------------
# The README as a reference: its DAG file runs, its tables match the models, its examples work.

README_IMPORTS = {
    "operators.collections": "ScrapingProsCreateCollectionOperator",
    "operators.run": "ScrapingProsRunCollectionOperator",
    "operators.export": "ScrapingProsExportResultsOperator",
    "sensors.scrapingpros": "ScrapingProsRunSensor",
    "operators.scrape": "ScrapingProsScrapeOperator",
}


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else len(README)]


def test_operators_section_opens_with_a_complete_dag_file() -> None:
    first = re.search(r"```python\n(.*?)```", section("Operators, sensor and trigger"), flags=re.S)
    assert first is not None and first.group(1) == README_DAG != ""
    for module, name in README_IMPORTS.items():
        line = f"from airflow_provider_scrapingpros.{module} import {name}\n"
        assert line in README_DAG, line
        assert getattr(importlib.import_module(f"airflow_provider_scrapingpros.{module}"), name)


def test_readme_code_needs_no_logical_date() -> None:
    # A manual run in Airflow 3 has no logical date: `{{ ds }}` and friends are undefined there.
    code = "\n".join(blocks("python"))
    assert re.findall(r"\{\{\s*(ds|ds_nodash|ts|logical_date|execution_date)\b", code) == []


@pytest.fixture
def readme_dags(
    tmp_path: Path,
    sp_conn: SandboxControl,  # noqa: F811 (the fixture imported above)
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / "readme"
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "readme_products.py").write_text(README_DAG)
    (csv_block,) = blocks("csv")
    (folder / "data" / "products.csv").write_text(csv_block)
    monkeypatch.setenv("AIRFLOW_VAR_SCRAPINGPROS_EXPORT_ROOT", f"file://{tmp_path}")
    rules = next(json.loads(b) for b in blocks("json") if b.lstrip().startswith("["))
    sp_conn.set_rules(rules)
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    bag = DagBag(dag_folder=str(folder))
    assert bag.import_errors == {}
    return bag


def test_the_readme_dag_runs_when_triggered_by_hand(
    readme_dags: Any,
    sp_conn: SandboxControl,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
    xcom: Any,  # noqa: F811
) -> None:
    dag = readme_dags.get_dag("scrapingpros_products")
    first = dag.test(logical_date=None)
    assert first.logical_date is None
    assert task_states(first) == {
        "check_site": "success",
        "upsert_collection": "success",
        "scrape": "success",
        "export_results": "success",
    }
    run = xcom(first, "scrape")
    counters = ("total_requests", "success_requests", "failed_requests", "timeout_requests", "outcome")
    assert [run[k] for k in counters] == [6, 4, 2, 0, "partial"]
    exported = xcom(first, "export_results")
    folder = tmp_path / "products" / first.run_after.strftime("%Y-%m-%d") / f"run={run['run_id']}"
    assert exported["destination"] == f"file://{folder}"
    marker = json.loads((folder / "_SUCCESS.json").read_text())
    figures = ("jobs", "exported", "failed", "expired", "lost", "successful")
    assert [marker[k] for k in figures] == [exported[k] for k in figures] == [6, 6, 0, 0, 0, 4]
    manifest = [json.loads(line) for line in (folder / "_manifest.jsonl").read_text().splitlines()]
    assert sorted((m["custom_id"], m["state"], m["is_success"], m["reason"]) for m in manifest) == [
        ("search-lamp", "exported", True, None),
        ("sku-1001", "exported", True, None),
        ("sku-1002", "exported", True, None),
        ("sku-1003", "exported", True, None),
        ("sku-1004", "exported", False, "http_404"),
        ("sku-1005", "exported", False, "blocked: captcha"),
    ]
    assert (sp_conn.count("POST /v1/async/collections/{cid}/run"), sp_conn.stats()["collections"]) == (1, 1)

    second = dag.test(logical_date=None)  # a new DAG run: same day's collection, a new (billed) run
    assert xcom(second, "scrape")["run_id"] != run["run_id"]
    assert (sp_conn.count("POST /v1/async/collections/{cid}/run"), sp_conn.stats()["collections"]) == (2, 1)

    adopt = readme_dags.get_dag("scrapingpros_products_adopt")
    adopted = adopt.test(
        logical_date=None, run_conf={"collection_id": run["collection_id"], "run_id": run["run_id"]}
    )
    assert task_states(adopted) == {"wait_for_run": "success", "export_jsonl": "success"}
    assert [xcom(adopted, "export_jsonl")[k] for k in ("layout", "jobs", "successful")] == ["jsonl", 6, 4]


def test_csv_example_types_its_cells() -> None:
    from airflow_provider_scrapingpros.tasks.request_specs import load_requests

    (csv_block,) = blocks("csv")
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        f.write(csv_block)
    bodies = [r.to_api() for r in load_requests(f.name)]
    os.unlink(f.name)
    assert bodies[1:4] == [
        {"custom_id": "sku-1002", "format": "markdown", "url": "https://shop.example.com/p/1002"},
        {
            "custom_id": "search-lamp",
            "browser": True,
            "actions": [{"type": "wait-for-selector", "selector": ".results", "time": 5000}],
            "url": "https://shop.example.com/search?q=lamp",
        },
        {
            "custom_id": "sku-1003",
            "extract": {"title": "css:h1", "price": "css:.price"},
            "url": "https://shop.example.com/p/1003",
        },
    ]


def table_rows(title: str) -> dict[str, str]:
    """First-column names (each backticked name of a cell) to their row, of the table after `title`."""
    text = README[README.index(title) :]
    rows: dict[str, str] = {}
    for line in text[text.index("\n|") :].splitlines()[2:]:  # after the header row
        if not line.startswith("|"):
            break
        for name in re.findall(r"`([^`]+)`", line.split("|")[1]):
            rows[name] = line
    return rows


def test_request_fields_and_actions_tables_match_the_models() -> None:
    from airflow_provider_scrapingpros.client import models

    fields = table_rows("### Request fields")
    assert set(fields) == set(models.ScrapeRequest.model_fields)
    assert "255" in fields["custom_id"]
    actions = table_rows("### Actions")
    action_models = [
        c
        for c in vars(models).values()
        if isinstance(c, type) and issubclass(c, BaseModel) and c.__name__.endswith("Action")
    ]
    assert len(action_models) == len(models.ACTION_TYPES) == len(actions)
    for model in action_models:
        (kind,) = typing.get_args(model.model_fields["type"].annotation)
        required = [n for n, f in model.model_fields.items() if f.is_required() and n != "type"]
        assert all(f"`{n}`" in actions[kind] for n in required), (kind, required)


def test_request_index_in_errors_counts_from_zero() -> None:
    from airflow_provider_scrapingpros.client.specs import validate_requests

    items = [
        *(f"https://shop.example.com/p/{i}" for i in range(3)),
        {"url": "x.example.com", "actions": [{"type": "click"}]},
    ]
    with pytest.raises(ScrapingProsInputError) as caught:
        validate_requests(items)
    assert caught.value.errors == [("requests[3].actions.0.selector", "Field required")]
    assert "`requests[3]` is the fourth request (0-based)" in README


def test_aws_connection_example_writes_to_an_s3_compatible_store(
    moto_endpoint: str,  # noqa: F811 (the fixtures imported above)
    make_bucket: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow.sdk import ObjectStoragePath

    found = re.findall(r"AIRFLOW_CONN_AWS_LAKE='(.*?)'", "\n".join(blocks("bash")))
    assert len(found) == 2 and json.loads(found[0])["conn_type"] == "aws"
    compatible = json.loads(found[1])
    assert compatible["conn_type"] == "aws" and "endpoint_url" in compatible["extra"]
    compatible["extra"]["endpoint_url"] = moto_endpoint
    monkeypatch.setenv("AIRFLOW_CONN_AWS_LAKE", json.dumps(compatible))
    bucket = make_bucket()
    ObjectStoragePath(f"s3://{bucket}/probe.txt", conn_id="aws_lake").write_text("written")
    import boto3

    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    assert client.get_object(Bucket=bucket, Key="probe.txt")["Body"].read() == b"written"
