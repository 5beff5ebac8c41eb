"""The benchmarks are measured on the primary lane (Airflow 3.3.2); their harnesses use 3.3 import
paths (e.g. `airflow.sdk.exceptions.TaskDeferred`), so the tiny-size checks skip older lanes."""

from __future__ import annotations

import airflow
import pytest
from packaging.version import Version


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if Version(airflow.__version__) >= Version("3.3"):
        return
    skip = pytest.mark.skip(reason="benchmarks run on the Airflow 3.3 lane")
    for item in items:
        if "tests/bench/" in str(item.fspath):
            item.add_marker(skip)
