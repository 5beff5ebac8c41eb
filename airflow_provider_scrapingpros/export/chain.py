"""`run_ids` of the export operator: the runs of a rescrape chain, original first.

Parsed before any API call, from what the DAG author wrote or what a template rendered: a list of
run ids (of `collection_id`) and/or `{"collection_id", "run_id"}` dicts (round runs live in their
own collections), or that list as text, which is what Jinja makes of
`{{ ti.xcom_pull('rescrape')['runs'] }}` (a Python literal, not JSON, unless rendered natively).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..exceptions import ScrapingProsInputError

FIELD = "run_ids"


@dataclass(frozen=True)
class ChainRun:
    collection_id: str
    run_id: str

    def as_dict(self) -> dict[str, str]:
        return {"collection_id": self.collection_id, "run_id": self.run_id}


def _bad(message: str, where: str = FIELD) -> ScrapingProsInputError:
    return ScrapingProsInputError(f"{where}: {message}", errors=[(where, message)])


def _from_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise _bad(
            f"{text[:200]!r} is not a list of run ids or of {{'collection_id', 'run_id'}} dicts "
            "(as JSON or a Python literal)."
        ) from None


def is_template(value: Any) -> bool:
    """Text that only the task's rendering turns into the list (checked again then)."""
    return isinstance(value, str) and "{{" in value


def _id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"must be a non-empty string, got {value!r}.", where)
    return value.strip()


def parse_run_ids(value: Any, collection_id: str | None) -> list[ChainRun]:
    """The chain, original first; `collection_id` is the original's collection (for bare run ids)."""
    if isinstance(value, str):
        value = _from_text(value)
    if isinstance(value, Mapping) or not isinstance(value, Sequence) or isinstance(value, str):
        raise _bad(
            f"must be a list of run ids or of {{'collection_id', 'run_id'}} dicts, got {value!r}. "
            "Pass the rescrape task's `runs`, e.g. \"{{ ti.xcom_pull('rescrape')['runs'] }}\"."
        )
    if not value:
        raise _bad("is empty; it needs at least the original run.")
    chain: list[ChainRun] = []
    for index, item in enumerate(value):
        where = f"{FIELD}[{index}]"
        if isinstance(item, Mapping):
            extra = sorted(set(item) - {"collection_id", "run_id"})
            if extra:
                raise _bad(f"unknown key(s) {extra}; an item is {{'collection_id', 'run_id'}}.", where)
            if "run_id" not in item or "collection_id" not in item:
                raise _bad(f"needs both 'collection_id' and 'run_id', got {dict(item)!r}.", where)
            chain.append(
                ChainRun(
                    _id(item["collection_id"], f"{where}.collection_id"),
                    _id(item["run_id"], f"{where}.run_id"),
                )
            )
            continue
        run_id = _id(item, where)
        if collection_id is None or not str(collection_id).strip():
            raise _bad(
                f"{run_id!r} is a bare run id, which needs collection_id (the original run's collection); "
                "set collection_id or give every item as {'collection_id', 'run_id'}.",
                where,
            )
        chain.append(ChainRun(str(collection_id).strip(), run_id))
    given = collection_id.strip() if isinstance(collection_id, str) and not is_template(collection_id) else ""
    if isinstance(value[0], Mapping) and given and chain[0].collection_id != given:
        raise _bad(
            f"the original run {chain[0].run_id} is of collection {chain[0].collection_id}, but "
            f"collection_id is {collection_id!r}; collection_id names the original run's collection "
            "(or leave it out when every item is a dict).",
            f"{FIELD}[0].collection_id",
        )
    seen: set[ChainRun] = set()
    for index, run in enumerate(chain):
        if run in seen:
            raise _bad(
                f"run {run.run_id} of collection {run.collection_id} is listed twice.", f"{FIELD}[{index}]"
            )
        seen.add(run)
    return chain
