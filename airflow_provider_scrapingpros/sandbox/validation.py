"""Request validation with the provider's own strict models
(docs/api-notes.md#collections-and-idempotency, docs/api-notes.md#request-fields-and-sync-scrape).

The models in `client/models.py` forbid unknown keys (a typo must fail on the client side) while the real
API ignores them. The sandbox reconciles the two by treating `extra_forbidden` as "drop that key and
validate again": the loop removes every reported extra key at its path, then re-validates, so a
union whose other member complained about the same value (`use_proxy`) is judged on the cleaned
value. Error locations are mapped to user paths with `models.field_path`, shared with the provider.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ..client.models import ScrapeRequest, describe_errors, field_path
from . import urls

_MAX_PASSES = 8  # each pass removes at least one key; nesting deeper than this is not a real request


def _drop_key(data: Any, loc: tuple[int | str, ...]) -> bool:
    """Delete the key at `loc`, skipping loc parts that are union/discriminator tags."""
    node = data
    for part in loc[:-1]:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
        # anything else is a tag pydantic put into the location; stay on the same node
    last = loc[-1]
    if isinstance(node, dict) and last in node:
        del node[last]
        return True
    return False


def validate_scrape(data: Any) -> tuple[ScrapeRequest | None, ValidationError | None]:
    """A ScrapeRequest, ignoring unknown keys at any depth; or the remaining validation error."""
    working = data
    copied = False
    last: ValidationError | None = None
    for _ in range(_MAX_PASSES):
        try:
            return ScrapeRequest.model_validate(working), None
        except ValidationError as exc:
            extras = [tuple(e["loc"]) for e in exc.errors() if e["type"] == "extra_forbidden"]
            if not extras:
                return None, exc
            if not copied:  # never mutate the caller's body: it is compared for idempotency
                working, copied = copy.deepcopy(data), True
            if not any([_drop_key(working, loc) for loc in extras]):
                return None, exc
            last = exc
    return None, last


def fastapi_detail(exc: ValidationError, where: str = "body") -> list[dict[str, Any]]:
    """FastAPI-style 422 items: `{"loc": ["body", "actions", 0, "selector"], "msg", "type"}`."""
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    for err in exc.errors(include_url=False):
        path = field_path(tuple(err["loc"]))
        if path in seen:
            continue
        seen.add(path)
        loc: list[str | int] = [where]
        if path != "<root>":
            loc += [int(p) if p.isdigit() else p for p in path.split(".")]
        items.append({"loc": loc, "msg": err["msg"], "type": err["type"]})
    return items


@dataclass
class Screened:
    """The item checks' result: accepted requests in order plus the three rejection buckets."""

    accepted: list[ScrapeRequest] = field(default_factory=list)
    blocked_urls: list[dict[str, Any]] = field(default_factory=list)
    invalid_items: list[dict[str, Any]] = field(default_factory=list)
    duplicate_urls: list[str] = field(default_factory=list)

    def buckets(self) -> dict[str, Any]:
        return {
            "duplicates_skipped": len(self.duplicate_urls),
            "blocked_urls": self.blocked_urls,
            "invalid_items": self.invalid_items,
            "duplicate_urls": self.duplicate_urls,
        }


def screen(items: list[Any], rule_blocks: Callable[[str], bool]) -> Screened:
    """Run collection items through the checks of docs/api-notes.md#collections-and-idempotency,
    steps 1-5; each rejected item lands in exactly one bucket."""
    out = Screened()
    seen: set[tuple[str, str | None]] = set()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            error = {"field": "<root>", "error_type": "not_a_dict", "message": "Item must be a JSON object"}
            out.invalid_items.append({"index": index, "url": None, "errors": [error]})
            continue
        request, exc = validate_scrape(item)
        if request is None:
            assert exc is not None
            raw_url = item.get("url")
            out.invalid_items.append(
                {
                    "index": index,
                    "url": raw_url if isinstance(raw_url, str) else None,
                    "errors": [e.model_dump() for e in describe_errors(exc)],
                }
            )
            continue
        url = urls.normalise(request.url)
        refusal = urls.check(url)
        if refusal is None and rule_blocks(url):
            refusal = urls.UrlRefusal("blocked", "URL is blocked by a sandbox rule.")
        if refusal is not None:
            out.blocked_urls.append(
                {"index": index, "url": url, "reason": refusal.reason, "message": refusal.message}
            )
            continue
        key = (url, request.custom_id)
        if key in seen:
            out.duplicate_urls.append(url)
            continue
        seen.add(key)
        out.accepted.append(request if url == request.url else request.model_copy(update={"url": url}))
    return out
