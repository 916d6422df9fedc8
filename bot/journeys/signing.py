"""Webhook signatures: HMAC-SHA256 over a timestamp and the raw body, Stripe/Slack style.

A shop signs each ``POST /v1/events`` with the shared secret::

    X-Ondo-Timestamp: 1796639400
    X-Ondo-Signature: v1=<hex HMAC-SHA256 of b"1796639400." + raw body>

The timestamp is inside the signed bytes, so a captured request cannot be replayed once it is
older than the tolerance (5 minutes). Several ``v1=`` values (comma separated) may be sent
while a secret is rotated: one match is enough.

Signing a request, in Python (``requests``, or any client that sends the bytes as given)::

    body = json.dumps(event).encode()
    ts = str(int(time.time()))
    mac = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = {"X-Ondo-Timestamp": ts, "X-Ondo-Signature": f"v1={mac}",
               "Content-Type": "application/json"}
    requests.post(url, data=body, headers=headers)

and with ``curl`` (``--data-binary`` sends the body byte for byte)::

    ts=$(date +%s)
    sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$SECRET" -hex | sed 's/^.* //')
    curl -X POST "$URL/v1/events" -H 'Content-Type: application/json' \
         -H "X-Ondo-Timestamp: $ts" -H "X-Ondo-Signature: v1=$sig" --data-binary "$body"
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Mapping

TIMESTAMP_HEADER = "X-Ondo-Timestamp"
SIGNATURE_HEADER = "X-Ondo-Signature"
TOLERANCE = 300.0
"""Seconds a timestamp may be off the receiver's clock, either way."""

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX = re.compile(r"[0-9a-f]{64}")
_MAX_HEADER = 2048


class SignatureError(ValueError):
    """A request whose signature does not hold; the message is a one-line reason."""


def signature(secret: str | bytes, body: bytes, ts: int) -> str:
    """The hex HMAC-SHA256 of ``f"{ts}.".encode() + body`` under ``secret``."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(key, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: bytes, ts: float) -> dict[str, str]:
    """The two headers that sign ``body`` at unix time ``ts`` (whole seconds)."""
    if not secret:
        raise SignatureError("no signing secret configured")
    seconds = int(ts)
    return {
        TIMESTAMP_HEADER: str(seconds),
        SIGNATURE_HEADER: f"v1={signature(secret, body, seconds)}",
    }


def verify(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    tolerance: float = TOLERANCE,
) -> None:
    """Check that ``body`` was signed with ``secret`` less than ``tolerance`` seconds from
    ``now`` (header names in any case). Raises :class:`SignatureError` if not."""
    if not secret:
        raise SignatureError("no signing secret configured")
    stamp = _header(headers, TIMESTAMP_HEADER)
    sent = _header(headers, SIGNATURE_HEADER)
    if not _TIMESTAMP.fullmatch(stamp):
        raise SignatureError(f"malformed {TIMESTAMP_HEADER}: expected unix seconds")
    ts = int(stamp)
    if not math.isfinite(now):
        raise SignatureError("the receiver's clock is not a time")
    if ts < now - tolerance:
        raise SignatureError(f"stale timestamp: {now - ts:.0f} s old (limit {tolerance:.0f} s)")
    if ts > now + tolerance:
        raise SignatureError(
            f"timestamp in the future: {ts - now:.0f} s ahead (limit {tolerance:.0f} s)"
        )
    candidates = _v1_values(sent)
    expected = signature(secret, body, ts)
    # Every candidate is compared (no early exit), each in constant time.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(candidate, expected)
    if not matched:
        raise SignatureError("signature mismatch")


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    if value is None or not value.strip():
        raise SignatureError(f"missing {name} header")
    if len(value) > _MAX_HEADER:
        raise SignatureError(f"malformed {name}: too long")
    return value.strip()


def _v1_values(header: str) -> list[str]:
    values: list[str] = []
    for part in header.split(","):
        scheme, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError(f"malformed {SIGNATURE_HEADER}: expected v1=<hex>")
        if scheme.strip() != "v1":
            continue  # another scheme (a future v2) is not ours to judge
        value = value.strip().lower()
        if not _HEX.fullmatch(value):
            raise SignatureError(f"malformed {SIGNATURE_HEADER}: v1 is not 64 hex digits")
        values.append(value)
    if not values:
        raise SignatureError(f"malformed {SIGNATURE_HEADER}: no v1= signature")
    return values
