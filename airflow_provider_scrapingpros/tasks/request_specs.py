"""Turn what a DAG author passes as `requests` into validated `ScrapeRequest`s — before any API call.

Accepted shapes: a list of request dicts, `ScrapeRequest` models or bare URL strings; a JSON string
of such a list (what a templated XCom renders to); or a path/URI of a `.json`, `.jsonl` or `.csv`
file (local or any object storage `ObjectStoragePath` understands), read at run time only.

The items are then checked by the one validator the hook uses too (client/specs.py), which names
each problem's request index and field path.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

from ..client.models import ScrapeRequest
from ..client.specs import RequestSpecs, validate_requests
from ..exceptions import ScrapingProsInputError

FILE_SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv")

RequestsInput = str | RequestSpecs


def load_requests(
    requests: RequestsInput, *, conn_id: str | None = None, field: str = "requests"
) -> list[ScrapeRequest]:
    """Validate everything and return the request models, or raise one error listing every problem."""
    items = _materialize(requests, conn_id=conn_id, field=field)
    if not items:
        raise ScrapingProsInputError(
            f"`{field}` is empty: there is nothing to scrape. Pass at least one URL or request, "
            "or check the file/XCom that produced the list."
        )
    return validate_requests(items, field=field)


def _materialize(requests: RequestsInput, *, conn_id: str | None, field: str) -> list[Any]:
    if isinstance(requests, str):
        text = requests.strip()
        if text.startswith("["):  # a rendered template / XCom of a list
            try:
                loaded = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ScrapingProsInputError(
                    f"`{field}` looks like a JSON list but does not parse: {exc}"
                ) from None
            return list(loaded)
        if text.lower().startswith(("http://", "https://")) and not text.lower().endswith(FILE_SUFFIXES):
            raise ScrapingProsInputError(
                f"`{field}` is a single URL string ({text!r}). Pass a list (`[{text!r}]`) for one URL, "
                "or a path/URI of a .json, .jsonl or .csv file."
            )
        return _read_file(text, conn_id=conn_id, field=field)
    if isinstance(requests, Mapping):
        raise ScrapingProsInputError(f"`{field}` is a single dict; wrap it in a list: `[{{'url': ...}}]`.")
    if not isinstance(requests, Iterable):
        raise ScrapingProsInputError(
            f"`{field}` must be a list of URLs/request dicts or a file path, got {type(requests).__name__}."
        )
    return list(requests)


def _read_file(location: str, *, conn_id: str | None, field: str) -> list[Any]:
    lowered = location.lower()
    suffix = next((s for s in FILE_SUFFIXES if lowered.endswith(s)), None)
    if suffix is None:
        raise ScrapingProsInputError(
            f"`{field}` = {location!r}: unknown file type. Use a .json (list), .jsonl (one request or URL "
            "per line) or .csv (a `url` column, other columns as request fields) file."
        )
    text = _read_text(location, conn_id=conn_id, field=field)
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            raise _broken_file(field, location, f"is not valid JSON ({where})") from None
        if isinstance(data, Mapping) and "requests" in data:
            data = data["requests"]
        if not isinstance(data, list):
            raise ScrapingProsInputError(f"{location}: expected a JSON list of requests or URLs.")
        return data
    if suffix in (".jsonl", ".ndjson"):
        return [_jsonl_line(line, location, n) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    return [_csv_row(row) for row in csv.DictReader(io.StringIO(text))]


def _read_text(location: str, *, conn_id: str | None, field: str) -> str:
    from airflow.sdk import ObjectStoragePath  # deferred: keeps DAG parsing cheap

    uri = location if "://" in location else f"file://{os.path.abspath(location)}"
    path = ObjectStoragePath(uri, conn_id=conn_id)
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start]
        where = f"byte {byte:#04x} at offset {exc.start}"
        raise _broken_file(field, location, f"is not UTF-8 text ({where})") from None
    except FileNotFoundError:
        raise ScrapingProsInputError(
            f"`{field}` file not found: {location}. Check the path (it is read on the worker at run time) "
            "and, for object storage, the connection given as `requests_conn_id`."
        ) from None


def _broken_file(field: str, location: str, problem: str) -> ScrapingProsInputError:
    return ScrapingProsInputError(
        f"`{field}` file {location} {problem}. Fix the file (save it as UTF-8) and retry; nothing was "
        "sent to the API."
    )


def _jsonl_line(line: str, location: str, number: int) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        stripped = line.strip()
        if stripped.startswith(("{", "[", '"')):
            raise ScrapingProsInputError(f"{location} line {number}: not valid JSON.") from None
        return stripped  # a bare URL per line is a JSONL file people actually write


_BOOL_WORDS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def _csv_row(row: Mapping[str | None, str | None]) -> dict[str, Any]:
    """CSV cells are strings: booleans become bools and JSON-looking cells (actions, extract) parse."""
    out: dict[str, Any] = {}
    for key, raw in row.items():
        if key is None or raw is None or raw.strip() == "":
            continue
        value = raw.strip()
        if value.lower() in _BOOL_WORDS and key not in ("url", "custom_id", "language", "window_size"):
            out[key] = _BOOL_WORDS[value.lower()]
        elif value[:1] in "[{":
            try:
                out[key] = json.loads(value)
            except json.JSONDecodeError:
                out[key] = value
        else:
            out[key] = value
    return out
