"""Shared fixtures. Airflow reads its configuration at first import, so the environment is set here,
at the top of the first conftest pytest loads, before anything imports Airflow."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="sp-airflow-home-"))
os.environ.setdefault("AIRFLOW_HOME", str(_AIRFLOW_HOME))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
# dag.test() needs DAG files inside DAGS_FOLDER: link the test DAGs and the shipped examples into one.
_DAGS = _AIRFLOW_HOME / "dags"
_DAGS.mkdir()
(_DAGS / "tests").symlink_to(Path(__file__).parent / "dags", target_is_directory=True)
(_DAGS / "examples").symlink_to(Path(__file__).parent.parent / "example_dags", target_is_directory=True)
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(_DAGS))
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_AIRFLOW_HOME}/airflow.db")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

from airflow_provider_scrapingpros.sandbox import Sandbox, SandboxConfig  # noqa: E402
from airflow_provider_scrapingpros.sandbox.control import SandboxControl  # noqa: E402
from airflow_provider_scrapingpros.sandbox.process import sandbox_subprocess  # noqa: E402

DEV_TOKEN = "sp_sandbox_dev"  # Enterprise plan in the sandbox's default token table


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """One sandbox for the session: real clock, fast time scale (a 200 ms fetch takes 2 ms)."""
    sb = Sandbox(SandboxConfig(port=0, time_scale=0.01)).start()
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def sp(sandbox: Sandbox) -> SandboxControl:
    """The session sandbox, reset to its startup state before each test."""
    sandbox.control.reset()
    return sandbox.control


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., Sandbox]]:
    """Own sandboxes with special config (manual clock, small caps...); stopped after the test."""
    started: list[Sandbox] = []

    def make(**config: Any) -> Sandbox:
        sb = Sandbox(SandboxConfig(port=0, **config)).start()
        started.append(sb)
        return sb

    yield make
    for sb in started:
        sb.stop()


FAST_RETRIES = {"backoff_base": 0.01, "backoff_cap": 0.05}


def connection_json(base_url: str, token: str = DEV_TOKEN, **extra: Any) -> str:
    """An AIRFLOW_CONN_* value for the sandbox; small backoffs keep fault tests fast."""
    import json

    return json.dumps(
        {"conn_type": "scrapingpros", "host": base_url, "password": token, "extra": {**FAST_RETRIES, **extra}}
    )


@pytest.fixture(scope="session")
def sandbox_process() -> Iterator[SandboxControl]:
    """A sandbox in its own process, for tests that time the event loop: an in-process sandbox
    shares our GIL, and its `json.dumps` of a multi-megabyte page would stall our loop thread and
    be blamed on the hook."""
    with sandbox_subprocess("--time-scale", "0.01") as base_url:
        yield SandboxControl(base_url)


@pytest.fixture
def sp_process(sandbox_process: SandboxControl, sp: SandboxControl) -> SandboxControl:
    """The sandbox process, reset; the in-process one is reset too, so its threads sit idle."""
    sandbox_process.reset()
    return sandbox_process
