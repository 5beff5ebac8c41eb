"""Turn what a DAG author passes as `requests` into validated `ScrapeRequest`s — before any API call.

Accepted shapes: a list of request dicts, `ScrapeRequest` models or bare URL strings; a JSON string
of such a list (what a templated XCom renders to); or a path/URI of a `.json`, `.jsonl` or `.csv`
file (local or any object storage `ObjectStoragePath` understands), read at run time only.

Every problem is reported at once with its request index and field path (`requests[3].actions.0
.selector: Field required`), because fixing a 10,000-line URL file one error per task try is misery.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from .exceptions import ScrapingProsInputError
from .models import ScrapeRequest, describe_errors

FILE_SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv")
MAX_REPORTED_ERRORS = 20

RequestsInput = str | Sequence[str | Mapping[str, Any] | ScrapeRequest]


def normalize_url(url: str) -> str:
    """What the API does to each URL (§4.1 step 3); done here too so dedupe keys match the server's."""
    url = url.strip()
    return url if "://" in url else f"https://{url}"


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
    parsed: list[ScrapeRequest] = []
    problems: list[str] = []
    for index, item in enumerate(items):
        try:
            parsed.append(_one(item))
        except ValidationError as exc:
            problems.extend(f"{field}[{index}].{e.field}: {e.message}" for e in describe_errors(exc))
        except (TypeError, ValueError) as exc:
            problems.append(f"{field}[{index}]: {exc}")
    if problems:
        shown = "\n  ".join(problems[:MAX_REPORTED_ERRORS])
        more = (
            f"\n  … and {len(problems) - MAX_REPORTED_ERRORS} more"
            if len(problems) > MAX_REPORTED_ERRORS
            else ""
        )
        raise ScrapingProsInputError(
            f"{len(problems)} invalid request field(s) in `{field}`; nothing was sent to the API. "
            f"Fix these and retry:\n  {shown}{more}"
        )
    return parsed


def _one(item: Any) -> ScrapeRequest:
    if isinstance(item, ScrapeRequest):
        return item.model_copy(update={"url": normalize_url(item.url)})
    if isinstance(item, str):
        return ScrapeRequest(url=normalize_url(item))
    if isinstance(item, Mapping):
        data = dict(item)
        if isinstance(data.get("url"), str):
            data["url"] = normalize_url(data["url"])
        return ScrapeRequest.model_validate(data)
    raise TypeError(f"expected a URL string, a request dict or a ScrapeRequest, got {type(item).__name__}")


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
        data = json.loads(text)
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
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScrapingProsInputError(
            f"`{field}` file not found: {location}. Check the path (it is read on the worker at run time) "
            "and, for object storage, the connection given as `requests_conn_id`."
        ) from None


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
