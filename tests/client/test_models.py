"""The API models' helpers (client/models.py): field paths as users wrote them, and request bodies
that carry only what the user set."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from airflow_provider_scrapingpros.client.models import (
    ScrapeRequest,
    describe_errors,
    field_path,
    user_field_path,
)


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (("actions", 0, "click", "selector"), "actions.0.selector"),  # discriminator tag dropped
        (("http_method", "post", "body"), "http_method.body"),
        ((), "<root>"),
    ],
)
def test_field_paths_drop_what_pydantic_adds(loc: tuple[int | str, ...], path: str) -> None:
    assert field_path(loc) == path


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (("requests", 2, "actions", 0, "click", "selector"), "requests[2].actions.0.selector"),
        (("requests", 3), "requests[3]"),
        (("callback_url",), "callback_url"),
    ],
)
def test_user_field_paths_put_list_indexes_in_brackets(loc: tuple[int | str, ...], path: str) -> None:
    assert user_field_path(loc) == path


def test_request_bodies_carry_only_what_was_set_and_errors_are_deduplicated() -> None:
    assert ScrapeRequest(url="https://a.example", browser=True).to_api() == {
        "url": "https://a.example",
        "browser": True,
    }
    with pytest.raises(ValidationError) as err:
        ScrapeRequest.model_validate({"url": "https://a.example", "actions": [{"type": "click"}]})
    assert [(e.field, e.error_type) for e in describe_errors(err.value)] == [
        ("actions.0.selector", "missing")
    ]
