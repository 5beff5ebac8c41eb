"""The events our triggers emit, and the one fail-closed way to read them back.

A trigger event crosses a process boundary as plain JSON (triggerer -> database -> worker), possibly
written by another release of this provider. So the models forbid unknown fields, and the task reads
an event only through `parse_event`: anything that does not match is an error with a clear message,
never a guess at the run's outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ..exceptions import ScrapingProsError, ScrapingProsWaitTimeoutError
from .verdict import RunResult, RunSnapshot, enforce

DeadlineKind = Literal["timeout", "execution_timeout"]
WaitStatus = Literal["success", "failed", "timeout", "error"]
WakeStatus = Literal["ready", "timeout", "error"]


class RunEvent(BaseModel):
    """What every event says: which run, how the wait ended, in words, and which deadline (if any)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: str
    collection_id: str
    run_id: str
    message: str
    deadline: DeadlineKind | None = None


class WaitEvent(RunEvent):
    """The run trigger's event, and the result of the worker-side wait."""

    status: WaitStatus
    run: RunSnapshot | None = None


class ExportWakeEvent(RunEvent):
    """The export follow trigger's event. `ready`: export more; else stop with `message`."""

    status: WakeStatus
    done: int | None = None
    run_status: str | None = None


EventT = TypeVar("EventT", bound=RunEvent)


def parse_event(model: type[EventT], event: object, *, next_step: str = "") -> EventT:
    """Read a trigger event back, failing closed; `next_step` ends the message (what to do now)."""
    if isinstance(event, model):
        return event
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        raise ScrapingProsError(
            f"Received a malformed trigger event; refusing to guess the run's outcome ({exc.error_count()} "
            f"problem(s): {exc.errors()[0]['msg']}). Event: {event!r:.300}{next_step}"
        ) from None


def conclude(
    event: object, run_url_for: Callable[[str, str], str], *, max_failed_ratio: float | None
) -> RunResult:
    """Turn a trigger event (or the sync wait's event) into the task's result, failing closed."""
    parsed = parse_event(WaitEvent, event)
    run_url = run_url_for(parsed.collection_id, parsed.run_id)
    if parsed.status == "timeout":
        raise ScrapingProsWaitTimeoutError(f"{parsed.message} See {run_url}.", deadline=parsed.deadline)
    if parsed.status == "error" or parsed.run is None:
        raise ScrapingProsError(f"{parsed.message} See {run_url}.")
    return enforce(parsed.run, run_url, max_failed_ratio=max_failed_ratio)


def event_fields(event: RunEvent) -> dict[str, Any]:
    """The event as the plain JSON a `TriggerEvent` carries."""
    return event.model_dump(mode="json")
