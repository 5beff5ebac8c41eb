"""What crosses between the sans-IO core and a transport: plain immutable values.

A flow (a generator in the core) yields `Send(request)` or `Sleep(seconds)`; the transport answers
a `Send` with an `ApiResponse`, or with a `TransportError` when no HTTP answer came. Requests never
hold the token: transports put `Authorization` on their session once.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .retry import Failure

T = TypeVar("T")


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str  # starts with /v1/; ids already URL-quoted
    params: tuple[tuple[str, str], ...] = ()
    json: Any = None  # None: no body
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ApiResponse:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes


@dataclass(frozen=True)
class TransportError:
    failure: Failure
    description: str  # exception class and text from the HTTP library (URL, never headers)


@dataclass(frozen=True)
class Send:
    request: ApiRequest


@dataclass(frozen=True)
class Sleep:
    seconds: float


Result = ApiResponse | TransportError
Flow = Generator[Send | Sleep, Any, T]
