"""The `scrapingpros` Asset → OpenLineage dataset converter, registered in provider info.

Airflow's provider manager imports this module whenever it loads the `scrapingpros` URI handler, which
happens at DAG parse (`collection_asset()`), so OpenLineage is imported only inside the function."""

from __future__ import annotations

from typing import Any

from .naming import asset_dataset


def to_openlineage(asset: Any, lineage_context: Any) -> Any:
    """What the hook reports (a collection Asset, `extra` naming the API and maybe a run) as the
    same dataset the operators emit."""
    from openlineage.client.event_v2 import Dataset

    namespace, name = asset_dataset(asset.uri, asset.extra)
    return Dataset(namespace=namespace, name=name)
