"""The provider as Airflow and pip see it: provider metadata, the registered hook/trigger/link, a
wheel that builds and checks clean, and that wheel alone (not the repo) running an example DAG."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import airflow_provider_scrapingpros

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent


def airflow_json(*args: str, command: str = "providers") -> list[dict[str, str]]:
    out = subprocess.run(
        [sys.executable, "-m", "airflow", command, *args, "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # log lines may precede the JSON document on stdout
    (document,) = [line for line in out.splitlines() if line.startswith(("[{", "[]"))]
    return json.loads(document)  # type: ignore[no-any-return]


def test_provider_info_imports_nothing_from_airflow() -> None:
    code = (
        "import sys, airflow_provider_scrapingpros as p; info = p.get_provider_info(); "
        "assert not [m for m in sys.modules if m.split('.')[0] == 'airflow'], 'airflow imported'; "
        "print(info['connection-types'][0]['connection-type'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "scrapingpros"


def test_airflow_lists_the_provider_hook_triggers_and_link() -> None:
    assert airflow_json("get", "airflow-provider-scrapingpros") == [
        {"Provider": "airflow-provider-scrapingpros", "Version": airflow_provider_scrapingpros.__version__}
    ]
    hooks = [h for h in airflow_json("hooks") if h.get("package_name") == "airflow-provider-scrapingpros"]
    assert [(h["connection_type"], h["class"], h["hook_name"]) for h in hooks] == [
        ("scrapingpros", "airflow_provider_scrapingpros.hooks.scrapingpros.ScrapingProsHook", "ScrapingPros")
    ]
    triggers = sorted(
        t["class"]
        for t in airflow_json("triggers")
        if t.get("package_name") == "airflow-provider-scrapingpros"
    )
    assert triggers == [
        "airflow_provider_scrapingpros.triggers.events",
        "airflow_provider_scrapingpros.triggers.export",
        "airflow_provider_scrapingpros.triggers.run",
    ]
    links = [entry for entry in airflow_json("links") if "scrapingpros" in json.dumps(entry)]
    assert len(links) == 1 and "ScrapingProsRunLink" in json.dumps(links[0])


def test_airflow_normalises_collection_asset_uris_and_loads_the_webhook_plugin() -> None:
    from airflow.sdk import Asset

    # Airflow's own Asset applies the provider's `asset-uris` handler: host lower-cased, trailing / gone
    assert Asset(uri="scrapingpros://API.Example.com/collections/c1/").uri == (
        "scrapingpros://api.example.com/collections/c1"
    )
    with pytest.raises(ValueError, match="<api host>/collections/<collection id>"):
        Asset(uri="scrapingpros://api.example.com/runs/r1")
    plugins = [p["name"] for p in airflow_json(command="plugins") if "scrapingpros" in json.dumps(p)]
    assert plugins == ["scrapingpros_webhooks"]


def test_connection_form_masks_the_token() -> None:
    info = airflow_provider_scrapingpros.get_provider_info()
    behaviour = info["ui-field-behaviour"]
    assert behaviour["relabeling"] == {"host": "Base URL", "password": "API token"}
    assert info["conn-fields"]["webhook_secret"]["sensitive"] is True


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([str(BIN / "uv"), "build", "--wheel", "-q", "-o", str(dist), str(ROOT)], check=True)
    (built,) = dist.glob("*.whl")
    return built


def test_wheel_metadata_checks_clean(wheel: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(wheel)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED" in result.stdout


def test_wheel_alone_runs_the_daily_example(wheel: Path, tmp_path: Path) -> None:
    import airflow

    venv = tmp_path / "venv"
    uv = str(BIN / "uv")
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    constraints = ROOT / "constraints" / f"constraints-{airflow.__version__}.txt"
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "-q",
            "--python",
            str(venv / "bin" / "python"),
            "-c",
            str(constraints),
            str(wheel),
            f"apache-airflow=={airflow.__version__}",
        ],
        check=True,
    )
    probe = (
        "import runpy, airflow_provider_scrapingpros as p; "
        f"g = runpy.run_path({str(ROOT / 'example_dags' / 'example_scrapingpros_daily.py')!r}); "
        "print(p.__file__); print(sorted(g['DAILY_EXPORT'].name for _ in [0]))"
    )
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "home"), "PYTHONPATH": ""}
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    ).stdout.splitlines()
    assert out[-2].startswith(str(venv)), out  # the installed wheel, not the repo checkout
    assert out[-1] == "['scrapingpros_daily_products']"
