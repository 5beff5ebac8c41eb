"""`make demo`: the flagship DAG end to end on the embedded sandbox and local storage.

Starts the sandbox on a free loopback port with outcome rules that make the 300 shipped URLs behave
like a real catalogue (404s, captchas, timeouts, worker failures, 300 KB pages, PDFs), runs
`airflow dags test example_scrapingpros_daily` with a SQLite Airflow home inside the repo, exports to
./demo-output/, stops the sandbox and prints a summary. Exits non-zero if anything failed; running
it again needs no cleanup (each scraping run exports to its own folder).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from airflow_provider_scrapingpros.sandbox import Sandbox, SandboxConfig

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / "airflow-home"
OUTPUT = ROOT / "demo-output"
DAG_ID = "example_scrapingpros_daily"


def main() -> int:
    HOME.mkdir(exist_ok=True)
    OUTPUT.mkdir(exist_ok=True)
    before = set(OUTPUT.glob("daily/*/run=*/_SUCCESS.json"))
    # time_scale 0.05: a 200 ms fetch takes 10 ms and the 60 s worker timeout 3 s
    with Sandbox(SandboxConfig(port=0, time_scale=0.05)) as sandbox:
        sandbox.control.set_rules(json.loads((ROOT / "example_dags/data/sandbox_rules.json").read_text()))
        print(f"sandbox listening on {sandbox.base_url}")
        code = run_airflow(sandbox.base_url)
    if code != 0:
        print(f"demo FAILED: `airflow dags test {DAG_ID}` exited {code}; log: {HOME / 'demo.log'}")
        return code
    new = sorted(set(OUTPUT.glob("daily/*/run=*/_SUCCESS.json")) - before)
    if len(new) != 1:
        print(f"demo FAILED: expected one new export under {OUTPUT}, found {len(new)}")
        return 1
    summarize(new[0].parent)
    return 0


def run_airflow(base_url: str) -> int:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME}/airflow.db",
        "AIRFLOW_CONN_SCRAPINGPROS_DEFAULT": json.dumps(
            {"conn_type": "scrapingpros", "host": base_url, "password": "sp_sandbox_dev"}
        ),
        "AIRFLOW_VAR_SCRAPINGPROS_EXPORT_ROOT": f"file://{OUTPUT}",
    }
    with (HOME / "demo.log").open("w") as log:
        for args in (["db", "migrate"], ["dags", "test", DAG_ID]):
            print(f"$ airflow {' '.join(args)}")
            code = subprocess.call([sys.executable, "-m", "airflow", *args], env=env, stdout=log, stderr=log)
            if code != 0:
                return code
    return 0


def summarize(folder: Path) -> None:
    done = json.loads((folder / "_SUCCESS.json").read_text())
    manifest = folder / "_manifest.jsonl"
    lines = manifest.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    outcome = Counter(
        "success" if r["is_success"] else "timeout" if r["status"] == "timeout" else "failed" for r in records
    )
    by_state = Counter(r["state"] for r in records)
    print()
    print("ScrapingPros demo: example_scrapingpros_daily on the sandbox")
    print(f"  collection  {done['collection_id']}")
    print(f"  run         {done['run_id']}")
    counts = f"success {outcome['success']}, failed {outcome['failed']}, timeout {outcome['timeout']}"
    print(f"  jobs        {done['jobs']}: {counts}")
    for r in done.get("rounds", [])[1:]:  # the rescrape rounds of a merged export
        print(f"  rescrape {r['round']}  {r['jobs']} resubmitted, {r['successful']} now succeed")
    print(f"  manifest    {_fmt(by_state)}; {done['bytes']:,} bytes in {done['objects']} objects")
    print(f"  manifest at {manifest.relative_to(ROOT)}")
    print("  first lines:")
    for line in lines[:3]:
        print(f"    {line[:160]}{'…' if len(line) > 160 else ''}")


def _fmt(counts: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


if __name__ == "__main__":
    sys.exit(main())
