"""bench/parse_cost.py: the importtime attribution on a known input (exact), and one real sample."""

from __future__ import annotations

from bench.parse_cost import _MARK, MODULES, attribution, rows, run

# `-X importtime` prints a module after everything it imported, indented one level deeper.
TRACE = f"""import time: self [us] | cumulative | imported package
import time:       500 |        500 | airflow.sdk
{_MARK}
import time:      3000 |       3000 |       urllib3
import time:      1000 |       4000 |     requests
import time:      2000 |       6000 |   airflow_provider_scrapingpros.hooks.scrapingpros
import time:     20000 |      20000 |   airflow_provider_scrapingpros.client.models
import time:       700 |      26700 | airflow_provider_scrapingpros.operators.collections
import time:       400 |        400 | json
"""


def test_attribution_names_our_modules_and_what_they_pull_in() -> None:
    where = attribution(TRACE)
    assert where == {
        "ours_self_total_ms": 22.7,
        "ours_by_self": [
            {"module": "airflow_provider_scrapingpros.client.models", "self_ms": 20.0, "cumulative_ms": 20.0},
            {
                "module": "airflow_provider_scrapingpros.hooks.scrapingpros",
                "self_ms": 2.0,
                "cumulative_ms": 6.0,
            },
            {
                "module": "airflow_provider_scrapingpros.operators.collections",
                "self_ms": 0.7,
                "cumulative_ms": 26.7,
            },
        ],
        "third_party_by_cumulative": [
            {
                "module": "requests",
                "cumulative_ms": 4.0,
                "imported_by": "airflow_provider_scrapingpros.hooks.scrapingpros"
                " <- airflow_provider_scrapingpros.operators.collections",
            },
        ],
    }


def test_one_fresh_interpreter_sample() -> None:
    result = run(samples=1)
    assert result["modules"] == list(MODULES)
    assert len(result["all_ours_ms"]) == 1 and result["ours_ms"] == result["all_ours_ms"][0] > 0
    assert result["sdk_ms"] > 0
    our_modules = [e["module"] for e in result["where"]["ours_by_self"]]
    assert "airflow_provider_scrapingpros.client.models" in our_modules
    [row] = rows(result)
    assert (row.ours, row.reference, row.target) == (result["ours_ms"], result["sdk_ms"], "≤ +100 ms")
