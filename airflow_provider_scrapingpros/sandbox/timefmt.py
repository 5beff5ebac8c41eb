"""Wire formats of time (docs/api-notes.md#wire-conventions): what the sandbox emits and accepts.

Emitted job stamps are UTC with exactly three fraction digits and `Z`, built from integer
milliseconds so a stamp always round-trips to the same ms: stamps are unique at ms resolution
(docs/api-notes.md#counters-and-invariants, I7). Incoming `since` / `since_completed_at` values
are parsed by one regex instead of `fromisoformat`, because the API accepts forms it rejects on
some Pythons (a space where an unencoded `+` was, 0-6 fraction digits, offsets with or without a
colon) and must answer 422 for anything else.
"""

from __future__ import annotations

import calendar
import functools
import re
import time
from datetime import datetime

_ISO_IN = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?"
    r"(Z|z|[+\- ]\d{2}(?::?\d{2})?)?$"
)


def iso_ms(ms: int) -> str:
    """`2026-05-01T10:00:00.123Z` from epoch milliseconds."""
    seconds, millis = divmod(ms, 1000)
    return f"{_iso_second(seconds)}.{millis:03d}Z"


@functools.lru_cache(maxsize=4096)
def _iso_second(seconds: int) -> str:
    # A jobs page stamps three times per job, mostly within the same few seconds; strftime was a
    # tenth of the time it took to serve a page with inline results.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def iso_s(epoch: float) -> str:
    """`2026-04-06T20:30:00Z`: whole seconds, as the webhook `timestamp` field."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))


def to_ms(epoch: float) -> int:
    return round(epoch * 1000)


def parse_iso_us(text: str) -> int | None:
    """Epoch microseconds of an ISO-8601 string (naive = UTC), or None if it does not parse."""
    match = _ISO_IN.match(text.strip("\n\r\t"))
    if match is None:
        return None
    year, month, day, hour, minute, sec, frac, offset = match.groups()
    try:
        # datetime() validates the calendar (Feb 30 is a 422, not March 2nd).
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(sec or 0))
    except ValueError:
        return None
    seconds = calendar.timegm(moment.timetuple())
    micros = int((frac or "").ljust(6, "0") or 0)
    shift = 0
    if offset and offset not in ("Z", "z"):
        sign = -1 if offset[0] == "-" else 1  # a space is an unencoded '+'
        digits = offset[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:] or 0)
        if hours > 23 or minutes > 59:
            return None
        shift = sign * (hours * 3600 + minutes * 60)
    return (seconds - shift) * 1_000_000 + micros
