"""Dataset names under the OpenLineage naming spec, as plain strings (no OpenLineage import).

The API side mirrors the collection Asset URI (`scrapingpros://<host>/collections/<id>`) but keeps the
API's own scheme in the namespace: OpenLineage namespaces are where the data lives, and
`http://127.0.0.1:8000` (the sandbox) and `https://api.scrapingpros.com` are different places. Object
storage follows the spec's rules for each store (`s3://bucket` + key, `file` + absolute path).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote, urlsplit

Dataset = tuple[str, str]  # (namespace, name)
_LOCAL = ("file", "local")


def api_namespace(base_url: str) -> str:
    """`scheme://host[:port]` of the API base URL, the port left out when it is the scheme's default."""
    from ..runs.completion import api_host  # not at import: operator modules import this one

    scheme = (urlsplit(base_url).scheme or "https").lower()
    return f"{scheme}://{api_host(base_url)}"


def collection_dataset(base_url: str, collection_id: str) -> Dataset:
    # quoted like the Asset URI, so one collection has one name in both
    return api_namespace(base_url), f"collections/{quote(collection_id, safe='')}"


def run_dataset(base_url: str, collection_id: str, run_id: str) -> Dataset:
    namespace, name = collection_dataset(base_url, collection_id)
    return namespace, f"{name}/runs/{quote(run_id, safe='')}"


def storage_dataset(uri: str) -> Dataset:
    """An object-storage URI as the spec names it: `s3://bucket` + key path, `gs://bucket` + path,
    `file` + absolute path; any other store `scheme://authority` + path. A folder keeps no trailing
    slash, so `s3://b/x/` and `s3://b/x` are one dataset."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme in _LOCAL or not scheme:
        path = (
            parts.path if not parts.netloc or parts.netloc == "localhost" else f"/{parts.netloc}{parts.path}"
        )
        return "file", path.rstrip("/") or "/"
    return f"{scheme}://{parts.netloc}", unquote(parts.path).strip("/") or "/"


def url_dataset(url: str) -> Dataset:
    """A scraped page: `scheme://host[:port]` + path. The query is left out on purpose: it often
    carries session ids or keys, and a lineage backend is no place for them."""
    parts = urlsplit(url)
    netloc = (parts.hostname or "").lower() + (f":{parts.port}" if parts.port else "")
    return f"{parts.scheme.lower()}://{netloc}", parts.path or "/"


def asset_dataset(uri: str, extra: Mapping[str, Any] | None) -> Dataset:
    """A collection Asset (what the hook reports) as a dataset: the run when `extra` names one. The
    URI has no http(s) scheme, so the hook puts the API base URL in `extra["api"]`; https otherwise."""
    from ..runs.completion import parse_collection_uri

    host, collection_id = parse_collection_uri(uri)
    extra = extra or {}
    base_url = str(extra.get("api") or f"https://{host}")
    run_id = extra.get("run_id")
    if run_id:
        return run_dataset(base_url, collection_id, str(run_id))
    return collection_dataset(base_url, collection_id)
