"""Every code block in the README is run here or copied from a file the tests run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests

from airflow_provider_scrapingpros.sandbox import Sandbox
from airflow_provider_scrapingpros.sandbox.control import SandboxControl

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.S)
TESTED_SOURCES = "\n".join(
    p.read_text() for p in [*ROOT.glob("example_dags/*.py"), *ROOT.glob("tests/dags/*.py")]
)


def blocks(lang: str) -> list[str]:
    return [body for kind, body in BLOCKS if kind == lang]


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
    from airflow_provider_scrapingpros.run_outcome import RunResult

    (example,) = [json.loads(b) for b in blocks("json") if '"run_url"' in b]
    # the same counts as the daily example's run in tests/e2e/test_examples.py
    assert RunResult.model_validate(example).model_dump() == example
    assert (example["total_requests"], example["success_requests"], example["outcome"]) == (
        300,
        254,
        "partial",
    )
