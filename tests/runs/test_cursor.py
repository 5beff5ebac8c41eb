"""RunCursor: which runs of a collection are due, on plain lists (no Airflow, no I/O)."""

from __future__ import annotations

import json
import random

import pytest

from airflow_provider_scrapingpros.client.models import Run, RunList
from airflow_provider_scrapingpros.runs.cursor import (
    FAST_POLL_FLOOR_S,
    CursorFormatError,
    MalformedRunList,
    RunCursor,
    checked_runs,
    next_poll_delay,
    observe,
    oldest_first,
    union_of_stored,
)


def make(rid: str, status: str, created: float | None, cid: str = "c1") -> Run:
    return Run.model_validate(
        {"run_id": rid, "collection_id": cid, "status": status, "total_requests": 1, "created_at": created}
    )


def listing(*runs: Run) -> list[Run]:
    """Newest first, as the API lists them."""
    return sorted(runs, key=lambda r: -(r.created_at or 0))


def ids(runs: tuple[Run, ...] | list[Run]) -> list[str]:
    return [r.run_id for r in runs]


def test_first_start_takes_terminal_runs_as_the_baseline() -> None:
    runs = listing(make("a", "completed", 1), make("b", "failed", 2), make("c", "in_progress", 3))
    seen = observe(None, runs)
    assert seen.due == ()
    assert seen.cursor.done == {"a", "b"}
    assert seen.changed and seen.in_progress == 1


def test_first_start_with_include_existing_replays_oldest_first() -> None:
    runs = listing(make("b", "cancelled", 2), make("a", "completed", 1), make("c", "in_progress", 3))
    seen = observe(None, runs, include_existing=True)
    assert ids(seen.due) == ["a", "b"]
    assert seen.cursor.done == frozenset()


def test_a_run_in_progress_at_the_first_look_is_due_when_it_ends_and_only_once() -> None:
    cursor = observe(None, [make("c", "in_progress", 3)]).cursor
    seen = observe(cursor, [make("c", "completed", 3)])
    assert ids(seen.due) == ["c"]
    after = seen.cursor.mark("c")
    again = observe(after, [make("c", "completed", 3)])
    assert again.due == () and not again.changed


def test_due_runs_are_oldest_first_by_created_at_whatever_the_list_order() -> None:
    runs = [make("x", "completed", 5), make("y", "completed", 9), make("z", "completed", 1)]
    assert ids(observe(RunCursor(), runs).due) == ["z", "x", "y"]


def test_ties_and_missing_created_at_fall_back_to_list_position() -> None:
    # newest first: "n" listed first is the newest of the tie; None sorts oldest
    runs = [make("n", "completed", 4), make("o", "completed", 4), make("u", "completed", None)]
    assert ids(oldest_first(runs)) == ["u", "o", "n"]


def test_vanished_ids_are_pruned_and_that_is_a_change() -> None:
    cursor = RunCursor(done=frozenset({"gone", "kept"}))
    seen = observe(cursor, [make("kept", "completed", 1)])
    assert seen.cursor.done == {"kept"} and seen.changed and seen.due == ()


def test_unknown_statuses_count_as_in_progress_and_are_reported() -> None:
    seen = observe(RunCursor(), [make("q", "queued_somewhere", 1)])
    assert seen.due == () and seen.in_progress == 1 and seen.unknown_statuses == {"queued_somewhere"}


def test_random_histories_report_every_run_exactly_once_across_restarts() -> None:
    rng = random.Random(7)
    statuses: dict[str, str] = {}
    created: dict[str, float] = {}
    stored: RunCursor | None = None
    reported: list[str] = []
    for step in range(300):
        if rng.random() < 0.3:
            rid = f"r{step}"
            statuses[rid], created[rid] = "in_progress", float(step)
        for rid in statuses:
            if statuses[rid] == "in_progress" and rng.random() < 0.2:
                statuses[rid] = rng.choice(["completed", "failed", "cancelled"])
        runs = listing(*(make(rid, s, created[rid]) for rid, s in statuses.items()))
        seen = observe(stored, runs, include_existing=True)
        cursor = seen.cursor
        for run in seen.due:
            reported.append(run.run_id)
            cursor = cursor.mark(run.run_id)
        if rng.random() < 0.1:  # a restart: only what was stored survives, via JSON
            stored = RunCursor.from_json(json.loads(json.dumps(cursor.to_json())))
        else:
            stored = cursor
    terminal = [rid for rid, s in statuses.items() if s != "in_progress"]
    assert sorted(reported) == sorted(terminal)
    assert len(reported) == len(set(reported))


def test_json_round_trip_and_malformed_stored_values() -> None:
    cursor = RunCursor(done=frozenset({"b", "a"}))
    assert cursor.to_json() == {"v": 1, "done": ["a", "b"]}
    assert RunCursor.from_json(cursor.to_json()) == cursor
    with pytest.raises(CursorFormatError, match="done"):
        RunCursor.from_json({"v": 1, "done": "a"})
    with pytest.raises(CursorFormatError, match="v"):
        RunCursor.from_json({"v": 2, "done": []})


def test_union_of_copies_kept_in_several_assets() -> None:
    got = union_of_stored({"A": {"v": 1, "done": ["a"]}, "B": {"v": 1, "done": ["b"]}, "C": None})
    assert got is not None and got.done == {"a", "b"}
    assert union_of_stored({"A": None}) is None
    with pytest.raises(CursorFormatError, match=r"^B: "):
        union_of_stored({"A": None, "B": [1]})


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        ({"items": [{"run_id": "a", "collection_id": "c1", "status": "completed"}], "total": 2}, "total=2"),
        (
            {
                "items": [
                    {"run_id": "a", "collection_id": "c1", "status": "completed"},
                    {"run_id": "a", "collection_id": "c1", "status": "completed"},
                ],
                "total": 2,
            },
            "twice",
        ),
        ({"items": [{"run_id": " ", "collection_id": "c1", "status": "completed"}], "total": 1}, "empty"),
        ({"items": [{"run_id": "a", "collection_id": "c9", "status": "completed"}], "total": 1}, "c9"),
    ],
)
def test_a_run_list_that_could_mislead_the_cursor_is_refused(answer: dict[str, object], match: str) -> None:
    with pytest.raises(MalformedRunList, match=match):
        checked_runs(RunList.model_validate(answer), "c1")


def test_a_consistent_run_list_passes() -> None:
    answer = RunList.model_validate(
        {"items": [{"run_id": "a", "collection_id": "c1", "status": "completed"}], "total": 1}
    )
    assert ids(checked_runs(answer, "c1")) == ["a"]


def test_adaptive_poll_delay() -> None:
    assert next_poll_delay(60.0, 0) == 60.0
    assert next_poll_delay(60.0, 3) == 15.0  # interval / 4
    assert next_poll_delay(10.0, 1) == FAST_POLL_FLOOR_S  # not faster than the floor
    assert next_poll_delay(2.0, 1) == 2.0  # never slower than the base interval
