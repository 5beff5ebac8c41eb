"""The Airflow-free layers stay Airflow-free: every module of client/, runs/ and sandbox/ imports in a
fresh interpreter where importing Airflow raises. The client is usable without Airflow (and the
sandbox runs on machines without it), so one stray `from airflow…` must fail here, naming its module."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import airflow_provider_scrapingpros

PACKAGE = Path(airflow_provider_scrapingpros.__file__).parent

IMPORT_ALL_UNDER_A_BLOCKER = """
import importlib, json, sys

class NoAirflow:
    def find_spec(self, name, path=None, target=None):
        if name == "airflow" or name.startswith("airflow."):
            raise ImportError(f"{name} imported by an Airflow-free module")
        return None

sys.meta_path.insert(0, NoAirflow())
imported, failed = [], {}
for name in json.loads(sys.argv[1]):
    try:
        importlib.import_module(name)
        imported.append(name)
    except ImportError as exc:
        failed[name] = str(exc)
leaked = sorted(m for m in sys.modules if m == "airflow" or m.startswith("airflow."))
print(json.dumps({"imported": imported, "failed": failed, "leaked": leaked}))
"""


def modules_under(folder: str) -> list[str]:
    names = []
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        if path.name == "__main__.py":  # running it starts a server
            continue
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        names.append(".".join(("airflow_provider_scrapingpros", *parts)))
    return names


def import_under_blocker(names: list[str]) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL_UNDER_A_BLOCKER, json.dumps(names)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.splitlines()[-1])  # type: ignore[no-any-return]


def test_client_runs_and_sandbox_import_no_airflow_module() -> None:
    names = modules_under("client") + modules_under("runs") + modules_under("sandbox")
    assert "airflow_provider_scrapingpros.client.core" in names and len(names) > 30
    result = import_under_blocker(names)
    assert result == {"imported": names, "failed": {}, "leaked": []}


def test_the_blocker_catches_an_airflow_import() -> None:
    """Without this, a blocker that never fires would make the fence test pass on anything."""
    result = import_under_blocker(["airflow_provider_scrapingpros.hooks.scrapingpros"])
    assert result["imported"] == []
    assert result["failed"] == {
        "airflow_provider_scrapingpros.hooks.scrapingpros": "airflow imported by an Airflow-free module"
    }
