"""Item validation (docs/api-notes.md#collections-and-idempotency): unknown keys are ignored at any
depth, and each rejected item lands in exactly one bucket."""

from __future__ import annotations

from typing import Any

from airflow_provider_scrapingpros.sandbox.validation import screen, validate_scrape


def test_unknown_keys_are_dropped_at_any_depth_without_touching_the_input() -> None:
    item = {"url": "https://a.com", "zzz": 1, "use_proxy": {"proxy": "any", "qq": 2}}
    request, error = validate_scrape(item)
    assert error is None and request is not None
    assert request.use_proxy is not None
    assert item["zzz"] == 1 and item["use_proxy"] == {"proxy": "any", "qq": 2}


def test_screening_puts_each_rejected_item_in_exactly_one_bucket() -> None:
    items: list[Any] = [
        "https://a.com",
        {"url": "https://a.com", "actions": [{"type": "click"}]},
        {"url": "http://localhost/"},
        {"url": "a.com"},
        {"url": "https://a.com"},
        {"url": "https://a.com", "custom_id": "2"},
        {"url": "https://blocked.example/"},
    ]
    out = screen(items, lambda url: "blocked.example" in url)
    assert [r.url for r in out.accepted] == ["https://a.com", "https://a.com"]
    assert [
        (i["index"], i["errors"][0]["field"], i["errors"][0]["error_type"]) for i in out.invalid_items
    ] == [
        (0, "<root>", "not_a_dict"),
        (1, "actions.0.selector", "missing"),
    ]
    assert [(b["index"], b["reason"]) for b in out.blocked_urls] == [(2, "blocked_hostname"), (6, "blocked")]
    assert out.duplicate_urls == ["https://a.com"]
