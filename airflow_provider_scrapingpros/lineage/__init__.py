"""OpenLineage for every ScrapingPros task (docs/lineage.md).

Nothing here imports OpenLineage at module level except `facets.py`, and only the lineage methods
import that, when the OpenLineage provider calls them: DAG parsing never pays for it, and without the
`openlineage` extra installed the methods are simply never called.
"""
