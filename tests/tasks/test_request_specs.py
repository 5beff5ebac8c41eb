"""Request specs are validated before any API call; every problem names its index and field path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_scrapingpros.client.models import ScrapeRequest
from airflow_provider_scrapingpros.exceptions import ScrapingProsInputError
from airflow_provider_scrapingpros.tasks.request_specs import load_requests


def test_mixed_inputs_normalise_like_the_api() -> None:
    loaded = load_requests(
        [
            " www.example.com/a ",
            {"url": "https://example.com/b", "custom_id": "b"},
            ScrapeRequest(url="example.com/c"),
        ]
    )
    assert [(r.url, r.custom_id) for r in loaded] == [
        ("https://www.example.com/a", None),
        ("https://example.com/b", "b"),
        ("https://example.com/c", None),
    ]


def test_rendered_json_list_is_accepted() -> None:
    assert [r.url for r in load_requests(json.dumps(["example.com/x"]))] == ["https://example.com/x"]


@pytest.mark.parametrize(
    ("requests", "expected"),
    [
        ([{"custom_id": "a"}], "requests[0].url: Field required"),
        (
            ["ok.com", {"url": "x.com", "actions": [{"type": "click"}]}],
            "requests[1].actions.0.selector: Field required",
        ),
        ([{"url": "x.com", "actions": [{"type": "hover"}]}], "requests[0].actions.0: Input tag 'hover'"),
        ([{"url": "x.com", "screenshot": True}], "requests[0].screenshot: screenshot requires browser: true"),
        ([{"url": "x.com", "browser": "yes"}], "requests[0].browser: Input should be a valid boolean"),
        ([{"url": "x.com", "formt": "html"}], "requests[0].formt: Extra inputs are not permitted"),
        ([{"url": "x.com", "custom_id": "x" * 256}], "requests[0].custom_id: String should have at most 255"),
        ([42], "requests[0]: expected a URL string, a request dict or a ScrapeRequest, got int"),
    ],
)
# list[Any]: the cases are deliberately ill-typed (e.g. [42]), as untyped DAG input can be.
def test_invalid_requests_name_index_and_field(requests: list[Any], expected: str) -> None:
    with pytest.raises(ScrapingProsInputError) as err:
        load_requests(requests)
    assert expected in str(err.value)
    assert "nothing was sent to the API" in str(err.value)


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(ScrapingProsInputError) as err:
        load_requests([{"custom_id": str(i)} for i in range(25)])
    message = str(err.value)
    assert message.startswith("25 invalid request field(s)")
    assert "requests[19].url" in message and "… and 5 more" in message


@pytest.mark.parametrize(
    ("requests", "expected"),
    [
        ([], "`requests` is empty"),
        ("https://example.com", "is a single URL string"),
        ({"url": "x"}, "is a single dict; wrap it in a list"),
        ("urls.txt", "unknown file type"),
    ],
)
def test_shape_errors(requests: object, expected: str) -> None:
    with pytest.raises(ScrapingProsInputError, match=expected):
        load_requests(requests)  # type: ignore[arg-type]


def test_files_json_jsonl_csv(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"requests": ["example.com/1", {"url": "example.com/2"}]}))
    (tmp_path / "b.jsonl").write_text('example.com/3\n{"url": "example.com/4", "custom_id": "four"}\n\n')
    (tmp_path / "c.csv").write_text(
        'url,custom_id,browser,screenshot,extract\nexample.com/5,five,true,false,"{""t"": ""css:h1""}"\n'
        "example.com/6,,,,\n"
    )
    assert [r.url[-1] for r in load_requests(str(tmp_path / "a.json"))] == ["1", "2"]
    assert [(r.url[-1], r.custom_id) for r in load_requests(str(tmp_path / "b.jsonl"))] == [
        ("3", None),
        ("4", "four"),
    ]
    five, six = load_requests(str(tmp_path / "c.csv"))
    assert (five.custom_id, five.browser, five.screenshot, five.extract) == (
        "five",
        True,
        False,
        {"t": "css:h1"},
    )
    assert (six.url, six.custom_id, six.browser) == ("https://example.com/6", None, False)


def test_missing_file_says_where_it_looked() -> None:
    with pytest.raises(ScrapingProsInputError, match=r"file not found: /nonexistent/urls\.csv"):
        load_requests("/nonexistent/urls.csv")


LATIN1_URL = "https://a.example/caf\xe9".encode("latin-1")


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        (
            "cut.json",
            b'[{"url": "https://a.example"}, {"url": "https://b',
            "is not valid JSON (line 1, column 40)",
        ),
        (
            "latin1.jsonl",
            "https://a.example/caf\xe9\n".encode("latin-1"),
            "is not UTF-8 text (byte 0xe9 at offset 21)",
        ),
        (
            "latin1.csv",
            "url\nhttps://a.example/caf\xe9\n".encode("latin-1"),
            "is not UTF-8 text (byte 0xe9 at offset 25)",
        ),
    ],
)
def test_broken_request_files_name_the_file_and_the_fix(
    tmp_path: Path, name: str, content: bytes, problem: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ScrapingProsInputError) as err:
        load_requests(str(path))
    assert str(err.value).startswith(f"`requests` file {path} {problem}.")
    assert str(err.value).endswith("Fix the file (save it as UTF-8) and retry; nothing was sent to the API.")
