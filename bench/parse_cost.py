"""Parse cost: what importing our operators adds to a DAG file's parse, in a fresh interpreter.

A DAG file that uses our operators imports `airflow.sdk` anyway; the cost that is ours is the time
spent importing our modules after that. Each sample is a fresh interpreter that imports
`airflow.sdk`, then our operator and sensor modules (what DAG files import), timing both steps with
`perf_counter`; the medians over several samples are reported (this 2-core machine is shared, so a
single sample means little). Target (issue 7): ≤ +100 ms.

One more interpreter runs with `-X importtime` to say where the time goes: our modules by self
time, and the third-party modules that only our imports pull in (with the module of ours that
imports them), so an over-budget result names its culprits.

    python -m bench.parse_cost [--samples 7]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

from .harness import ROOT, airflow_env, median
from .table import Row

PACKAGE = "airflow_provider_scrapingpros"
MODULES = (
    f"{PACKAGE}.operators.collections",
    f"{PACKAGE}.operators.export",
    f"{PACKAGE}.sensors.scrapingpros",
)
TARGET_MS = 100.0
_MARK = "--- sp-bench: airflow.sdk imported ---"
_SAMPLE = f"""
import importlib, json, sys, time
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
sys.stderr.write({_MARK!r} + "\\n")
for name in {MODULES!r}:
    importlib.import_module(name)
t2 = time.perf_counter()
print(json.dumps({{"sdk_ms": (t1 - t0) * 1000, "ours_ms": (t2 - t1) * 1000}}))
"""


def _interpreter(*flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *flags, "-c", _SAMPLE],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )


def sample() -> dict[str, float]:
    out: dict[str, float] = json.loads(_interpreter().stdout.strip().splitlines()[-1])
    return out


def attribution(stderr: str, top: int = 8) -> dict[str, Any]:
    """From `-X importtime` output (children printed before their parent, deeper indented): the
    imports after the marker, ours by self time, others by cumulative time with their importer."""
    entries: list[tuple[int, int, int, str]] = []  # (depth, self_us, cumulative_us, module)
    for line in stderr.split(_MARK, 1)[-1].splitlines():
        if not line.startswith("import time:"):
            continue
        head, cumulative_field, name_field = line.split("|", 2)
        self_field = head.removeprefix("import time:").strip()
        if not self_field.isdigit():  # the header line
            continue
        depth = len(name_field) - len(name_field.lstrip())
        entries.append((depth, int(self_field), int(cumulative_field), name_field.strip()))
    ours: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    for i, (_, self_us, cumulative, name) in enumerate(entries):
        if name.startswith(PACKAGE):
            ours.append({"module": name, "self_ms": _ms(self_us), "cumulative_ms": _ms(cumulative)})
            continue
        chain = _ancestors(entries, i)
        if chain and chain[0].startswith(PACKAGE):
            others.append(
                {"module": name, "cumulative_ms": _ms(cumulative), "imported_by": " <- ".join(chain)}
            )
    return {
        "ours_self_total_ms": round(sum(e["self_ms"] for e in ours), 1),
        "ours_by_self": sorted(ours, key=lambda e: e["self_ms"], reverse=True)[:top],
        "third_party_by_cumulative": sorted(others, key=lambda e: e["cumulative_ms"], reverse=True)[:top],
    }


def _ancestors(entries: list[tuple[int, int, int, str]], index: int) -> list[str]:
    """Who imported entry `index`, nearest first (a parent is the next entry less indented)."""
    chain, depth = [], entries[index][0]
    for entry_depth, _, _, name in entries[index + 1 :]:
        if entry_depth < depth:
            chain.append(name)
            depth = entry_depth
    return chain


def _ms(microseconds: int) -> float:
    return round(microseconds / 1000, 1)


def run(samples: int = 7) -> dict[str, Any]:
    airflow_env()
    sample()  # warm-up: compiles any changed module once, as a DAG processor would have
    measured = [sample() for _ in range(samples)]
    traced = _interpreter("-X", "importtime")
    return {
        "samples": samples,
        "modules": list(MODULES),
        "sdk_ms": round(median([m["sdk_ms"] for m in measured]), 1),
        "ours_ms": round(median([m["ours_ms"] for m in measured]), 1),
        "all_ours_ms": [round(m["ours_ms"], 1) for m in measured],
        "where": attribution(traced.stderr),
    }


def rows(result: dict[str, Any]) -> list[Row]:
    where = result["where"]
    culprits = [
        f"{e['module']} {e['cumulative_ms']:g} ms (via {e['imported_by']})"
        for e in where["third_party_by_cumulative"][:2]
    ]
    culprits += [f"{e['module']} {e['self_ms']:g} ms" for e in where["ours_by_self"][:2]]
    passed = result["ours_ms"] <= TARGET_MS
    return [
        Row(
            "parse cost: + our operators & sensor after airflow.sdk (median)",
            result["ours_ms"],
            result["sdk_ms"],
            unit="ms",
            target=f"≤ +{TARGET_MS:g} ms",
            passed=passed,
            note="" if passed else "largest: " + "; ".join(culprits),
        )
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Import cost of our operators in a fresh interpreter.")
    parser.add_argument("--samples", type=int, default=7)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.samples), indent=2))


if __name__ == "__main__":
    main()
