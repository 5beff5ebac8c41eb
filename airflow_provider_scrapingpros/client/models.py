"""Pydantic v2 models for every request and response of the ScrapingPros API (docs/api-notes.md).

Two rules shape this module:

* **Requests are strict.** A typo (`formt`), a wrong type (`browser: "yes"`) or an action of an
  unknown `type` is rejected before any API call, and pydantic's error locations give the field path
  (`actions.0.selector`). The real API ignores unknown keys; the sandbox mirrors that by dropping
  `extra_forbidden` errors (see `sandbox/validation.py`), so the same models serve both sides.
* **Responses are lenient about the future, strict about the present.** Unknown fields are kept
  (the API grows) but documented fields must have their documented types, so a malformed response
  fails loudly instead of being misread. Run statuses stay plain strings: an unknown status must
  keep a waiter polling, never crash it or count as success.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

# --------------------------------------------------------------------------------------------------
# Status vocabulary: the one place that says what "terminal" means (operator, sensor, trigger and
# export all ask here).


class RunStatus(str, Enum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobStatus(str, Enum):
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"


TERMINAL_RUN_STATUSES = frozenset(
    {RunStatus.COMPLETED.value, RunStatus.FAILED.value, RunStatus.CANCELLED.value}
)
TERMINAL_JOB_STATUSES = frozenset(
    {JobStatus.COMPLETED.value, JobStatus.FAILED.value, JobStatus.TIMEOUT.value}
)
KNOWN_RUN_STATUSES = frozenset(s.value for s in RunStatus)


def is_terminal_run_status(status: str) -> bool:
    """Unknown statuses are *not* terminal: keep polling (docs/api-notes.md#runs)."""
    return status in TERMINAL_RUN_STATUSES


SUCCESS_CRITERION_VERSION = "content_success_v1"

# Page limits of GET …/jobs: pages that carry result bodies are capped lower
# (docs/api-notes.md#jobs-paging-and-inline-results).
MAX_PAGE_SIZE = 1000
MAX_PAGE_SIZE_WITH_RESULTS = 100

# --------------------------------------------------------------------------------------------------
# Request side (docs/api-notes.md#request-fields-and-sync-scrape): strict.


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ClickAction(_Request):
    type: Literal["click"]
    selector: str
    wait_for_navigation: bool = False
    optional: bool = False


class InputAction(_Request):
    type: Literal["input"]
    selector: str
    text: str


class SelectAction(_Request):
    type: Literal["select"]
    selector: str
    value: str


class KeyPressAction(_Request):
    type: Literal["key-press"]
    key: str


class WaitForSelectorAction(_Request):
    type: Literal["wait-for-selector"]
    selector: str
    time: int
    state: Literal["visible", "attached", "hidden"] | None = None


class WaitForTimeoutAction(_Request):
    type: Literal["wait-for-timeout"]
    time: int


class EvaluateAction(_Request):
    type: Literal["evaluate"]
    script: str
    timeout: int | None = 30000


ExtractSpec = dict[str, str | dict[str, Any]]


class CollectAction(_Request):
    type: Literal["collect"]
    extract: ExtractSpec


class WhileCondition(_Request):
    type: Literal["selector-visible", "selector-invisible"]
    selector: str


InnerAction = Annotated[
    ClickAction
    | InputAction
    | SelectAction
    | KeyPressAction
    | WaitForSelectorAction
    | WaitForTimeoutAction
    | EvaluateAction
    | CollectAction,
    Field(discriminator="type"),
]


class WhileAction(_Request):
    type: Literal["while"]
    condition: WhileCondition
    actions: list[InnerAction]  # no nested `while`: the discriminator rejects it by name
    max_iterations: int = 20


Action = Annotated[
    ClickAction
    | InputAction
    | SelectAction
    | KeyPressAction
    | WaitForSelectorAction
    | WaitForTimeoutAction
    | EvaluateAction
    | CollectAction
    | WhileAction,
    Field(discriminator="type"),
]

ACTION_TYPES = (
    "click",
    "input",
    "select",
    "key-press",
    "wait-for-selector",
    "wait-for-timeout",
    "evaluate",
    "collect",
    "while",
)


class HttpMethodGet(_Request):
    method: Literal["get"]


class HttpMethodPost(_Request):
    method: Literal["post"]
    payload: dict[str, Any] | list[Any] | None = None
    url: str | None = None
    content_type: Literal["json", "form"] | None = None


HttpMethod = Annotated[HttpMethodGet | HttpMethodPost, Field(discriminator="method")]


class ProxyConfig(_Request):
    proxy: str = "any"
    max_retries: int = 3
    delay_seconds: int = 1
    backoff_factor: int = 2


class NetworkCaptureConfig(_Request):
    resource_types: list[str] | None = None
    listen_after_load_ms: int | None = None
    url_pattern: str | None = None


# Fields that only make sense with a headless browser (the API rejects them as `param_invalid`).
BROWSER_ONLY_FIELDS = ("screenshot", "network_capture", "block_resources", "block_requests")


class ScrapeRequest(_Request):
    """One URL request: the body of POST /v1/sync/scrape and an item of a collection."""

    url: Annotated[str, Field(min_length=1)]
    format: Literal["html", "markdown"] = "html"
    browser: bool = False
    browser_type: Literal["light", "heavy", "stealth"] = "light"
    use_proxy: str | ProxyConfig | None = None
    screenshot: bool = False
    actions: list[Action] | None = None
    language: str = ""
    http_method: HttpMethod | None = None
    window_size: str = ""
    headers: dict[str, str] | None = None
    cookies: dict[str, Any] | None = None
    extract: ExtractSpec | None = None
    network_capture: NetworkCaptureConfig | None = None
    retry_on_block: bool = False
    block_resources: list[str] | None = None
    block_requests: list[str] | None = None
    custom_id: Annotated[str, Field(max_length=255)] | None = None

    @field_validator(*BROWSER_ONLY_FIELDS)
    @classmethod
    def _needs_browser(cls, value: Any, info: ValidationInfo) -> Any:
        # `browser` is declared earlier, so it is already in info.data when these run.
        if value not in (None, False, []) and not info.data.get("browser", False):
            raise PydanticCustomError(
                "param_invalid", "{field} requires browser: true", {"field": info.field_name}
            )
        return value

    def to_api(self) -> dict[str, Any]:
        """The JSON body: defaults dropped (the API applies the same ones), so bodies stay small."""
        return self.model_dump(mode="json", exclude_defaults=True, exclude={"url"}) | {"url": self.url}


class CollectionCreate(_Request):
    name: Annotated[str, Field(min_length=1)]
    requests: list[ScrapeRequest] | None = None
    callback_url: str | None = None


class CollectionUpdate(_Request):
    name: Annotated[str, Field(min_length=1)]
    requests: list[ScrapeRequest] | None = None


# --------------------------------------------------------------------------------------------------
# Response side: unknown fields allowed, documented types strict.


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, frozen=True)


class BlockedUrl(_Response):
    index: int
    url: str
    reason: str
    message: str | None = None


class InvalidItemError(_Response):
    field: str
    error_type: str
    message: str


class InvalidItem(_Response):
    index: int
    url: str | None = None
    errors: list[InvalidItemError] = Field(default_factory=list)


class NewCollectionResponse(_Response):
    id: str
    name: str
    message: str
    duplicates_skipped: int = 0
    blocked_urls: list[BlockedUrl] = Field(default_factory=list)
    invalid_items: list[InvalidItem] = Field(default_factory=list)
    duplicate_urls: list[str] = Field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.blocked_urls) + len(self.invalid_items) + self.duplicates_skipped


class Collection(_Response):
    id: str
    name: str
    created_at: float | None = None
    updated_at: float | None = None


class FailedJob(_Response):
    job_id: str
    url: str
    status: str
    error: str | None = None


class SuccessCriterion(_Response):
    version: str
    rules: list[str] = Field(default_factory=list)


class Run(_Response):
    run_id: str
    collection_id: str
    status: str
    total_requests: int = 0
    success_requests: int = 0
    failed_requests: int = 0
    timeout_requests: int = 0
    failed_jobs: list[FailedJob] = Field(default_factory=list)
    job_ids: list[str] = Field(default_factory=list)
    callback_url: str | None = None
    callback_status: str | None = None
    created_at: float | None = None
    success_criterion: SuccessCriterion | None = None
    all_jobs_persisted: bool | None = None

    @property
    def done(self) -> int:
        return self.success_requests + self.failed_requests + self.timeout_requests

    @property
    def is_terminal(self) -> bool:
        return is_terminal_run_status(self.status)


class RunList(_Response):
    items: list[Run]
    total: int


class ScrapeGuidance(_Response):
    success: bool = False
    error_type: str | None = None
    error_provider: str | None = None
    credits_charged: int | None = None
    credits_refunded: bool | None = None
    next_steps: list[str] = Field(default_factory=list)
    suggested_request: dict[str, Any] | None = None
    stop_reason: str | None = None


class ScrapeResult(_Response):
    """ScrapeResponse: the sync scrape body, `/result` and an inline `result`."""

    message: str
    url: str | None = None
    custom_id: str | None = None
    html: str | None = None
    markdown: str | None = None
    # camelCase: these are the wire names
    statusCode: int | None = None
    executionTime: float | None = None
    potentiallyBlockedByCaptcha: bool | None = None
    screenshot: str | None = None
    extracted_data: dict[str, Any] | None = None
    evaluate_results: list[Any] | None = None
    network_requests: list[dict[str, Any]] | None = None
    timings: dict[str, Any] | None = None
    guidance: ScrapeGuidance | None = None
    body_base64: str | None = None
    body_url: str | None = None
    content_type: str | None = None


class Job(_Response):
    job_public_id: str
    run_public_id: str
    collection_id: str
    status: Literal["processing", "completed", "failed", "timeout"]
    client_id: str | None = None
    custom_id: str | None = None
    message: str | None = None
    validator_version: str | None = None
    status_code: int | None = None
    execution_time_ms: int | None = None
    retries_attempted: int | None = None
    url: str | None = None
    url_truncated: bool = False
    queued_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    block_reason: str | None = None
    protection_stack: list[str] = Field(default_factory=list)
    rule_hits: list[str] = Field(default_factory=list)
    has_extractable_data: bool | None = None
    is_success: bool | None = None
    result: ScrapeResult | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_JOB_STATUSES


class JobsPage(_Response):
    items: list[Job]
    cursor_next: str | None = None
    has_more: bool = False


class JobsPageHead(BaseModel):
    """A jobs page's cursor fields alone. Reading them skips the items without building them: a
    tenth of the cost of a full parse of a page with inline bodies."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)
    cursor_next: str | None = None
    has_more: bool = False


class WebhookEvent(_Response):
    """The `run.completed` payload (docs/api-notes.md#webhooks)."""

    event: str
    run_id: str
    collection_id: str
    status: str
    total_requests: int
    success_requests: int
    failed_requests: int
    job_ids: list[str] = Field(default_factory=list)
    results_url: str
    timestamp: str


class Health(_Response):
    status: str


# --------------------------------------------------------------------------------------------------
# Validation errors as field paths: shared by the sandbox (`invalid_items`) and the operators (the
# message that names the request index and field). pydantic puts discriminator tags and union member
# names into `loc` (`actions.0.click.selector`); users wrote `actions.0.selector`, so drop them.

_UNION_MEMBER_LABELS = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})


def field_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    previous: int | str | None = None
    for part in loc:
        is_tag = isinstance(part, str) and (
            (isinstance(previous, int) and part in ACTION_TYPES)
            or (previous == "http_method" and part in ("get", "post"))
            or part.lower() in _UNION_MEMBER_LABELS
            or part[:1].isupper()
            or "[" in part
        )
        if not is_tag:
            parts.append(str(part))
        previous = part
    return ".".join(parts) or "<root>"


def user_field_path(loc: tuple[int | str, ...]) -> str:
    """A path as the user wrote it: a list item's index in brackets (`requests[3].actions.0.selector`),
    the format of our own validator (client/specs.py), so the API's 422s read the same."""
    if len(loc) >= 2 and isinstance(loc[0], str) and isinstance(loc[1], int):
        head = f"{loc[0]}[{loc[1]}]"
        return f"{head}.{field_path(loc[2:])}" if loc[2:] else head
    return field_path(loc)


def first_problem(exc: ValidationError) -> str:
    """`field.path: message` of a validation error's first problem, for one-line error messages."""
    first = exc.errors(include_url=False)[0]
    return f"{field_path(tuple(first['loc'])) or 'value'}: {first['msg']}"


def describe_errors(exc: ValidationError) -> list[InvalidItemError]:
    """One entry per problem, deduplicated (a union reports the same field once per member)."""
    seen: dict[str, InvalidItemError] = {}
    for err in exc.errors(include_url=False):
        path = field_path(tuple(err["loc"]))
        seen.setdefault(path, InvalidItemError(field=path, error_type=err["type"], message=err["msg"]))
    return list(seen.values())
