"""Webhook signatures (docs/api-notes.md#webhooks): one implementation for the sandbox that signs
and for users who verify. The signature covers `f"{timestamp}."` plus the *raw* body bytes, so a
receiver must verify before parsing JSON (re-serialising would change the bytes)."""

from __future__ import annotations

import hashlib
import hmac
import re
import time

from pydantic import ValidationError

from .models import WebhookEvent

SIGNATURE_HEADER = "X-SP-Signature"
TIMESTAMP_HEADER = "X-SP-Timestamp"
DEFAULT_TOLERANCE_S = 300
# ASCII only: compare_digest raises TypeError on other characters instead of answering "no".
_SIGNATURE = re.compile(r"sha256=[0-9a-fA-F]{64}")


class WebhookVerificationError(ValueError):
    """The delivery is not authentic or too old; answer 400/401 and do not act on it."""


class WebhookPayloadError(WebhookVerificationError):
    """Authentic (the signature matches) but not a run event; answer 422 and do not act on it."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    secret: str,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    *,
    now: float | None = None,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> WebhookEvent:
    """Check one delivery and return its parsed event.

    `now` defaults to the local clock; pass the sandbox clock in tests that move time. Be idempotent
    on `(run_id, event)` downstream: a lost 2xx makes the API deliver again.
    """
    if not signature or not _SIGNATURE.fullmatch(signature):
        raise WebhookVerificationError(
            f"Missing or malformed {SIGNATURE_HEADER} header; expected 'sha256=' and 64 hex digits. "
            "Check that the request really comes from ScrapingPros."
        )
    try:
        ts = int(timestamp or "")
    except ValueError:
        raise WebhookVerificationError(
            f"Missing or non-integer {TIMESTAMP_HEADER} header; expected Unix epoch seconds."
        ) from None
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_s:
        raise WebhookVerificationError(
            f"Webhook timestamp is {abs(current - ts):.0f}s away from now (tolerance {tolerance_s:.0f}s): "
            "a replay, or a clock out of sync on the receiver."
        )
    expected = sign(secret, ts, body)
    if not hmac.compare_digest(expected, signature.lower()):
        raise WebhookVerificationError(
            "Webhook signature does not match: check the webhook secret in the connection "
            "(extra `webhook_secret`) against the one configured for your account."
        )
    try:
        return WebhookEvent.model_validate_json(body)
    except ValidationError as exc:
        raise WebhookPayloadError(
            f"Webhook body is signed but is not a run event ({exc.error_count()} problem(s), first: "
            f"{exc.errors()[0]['msg']}); it was not acted on."
        ) from None
