"""Webhook signatures: a good one passes; missing, malformed, stale, future and wrong ones are
refused with a one-line reason; several v1= values allow a secret's rotation."""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import subprocess

import pytest

from bot.journeys.signing import SignatureError, sign, verify

SECRET = "whsec_test_온도"
BODY = '{"event_id":"e1","type":"order.placed","note":"주문"}'.encode()
NOW = 1_796_646_600.0


def test_sign_then_verify() -> None:
    headers = sign(SECRET, BODY, NOW)
    assert headers["X-Ondo-Timestamp"] == "1796646600"
    expected = hmac.new(SECRET.encode(), b"1796646600." + BODY, hashlib.sha256).hexdigest()
    assert headers["X-Ondo-Signature"] == f"v1={expected}"
    verify(SECRET, headers, BODY, NOW)
    verify(SECRET.encode(), headers, BODY, NOW + 299)


def test_header_names_in_any_case() -> None:
    headers = {k.lower(): v for k, v in sign(SECRET, BODY, NOW).items()}
    verify(SECRET, headers, BODY, NOW)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h: {"X-Ondo-Signature": h["X-Ondo-Signature"]}, "missing X-Ondo-Timestamp"),
        (lambda h: {"X-Ondo-Timestamp": h["X-Ondo-Timestamp"]}, "missing X-Ondo-Signature"),
        (lambda h: {**h, "X-Ondo-Timestamp": "  "}, "missing X-Ondo-Timestamp"),
        (lambda h: {**h, "X-Ondo-Timestamp": "12.5"}, "malformed X-Ondo-Timestamp"),
        (lambda h: {**h, "X-Ondo-Timestamp": "-5"}, "malformed X-Ondo-Timestamp"),
        (lambda h: {**h, "X-Ondo-Timestamp": "1e9"}, "malformed X-Ondo-Timestamp"),
        (lambda h: {**h, "X-Ondo-Signature": "abc"}, "malformed X-Ondo-Signature"),
        (lambda h: {**h, "X-Ondo-Signature": "v1=zz"}, "v1 is not 64 hex"),
        (lambda h: {**h, "X-Ondo-Signature": "v0=" + "a" * 64}, "no v1= signature"),
        (lambda h: {**h, "X-Ondo-Signature": "v1=" + "a" * 5000}, "too long"),
        (lambda h: {**h, "X-Ondo-Signature": "v1=" + "0" * 64}, "signature mismatch"),
    ],
)
def test_bad_headers(mutate: object, reason: str) -> None:
    headers = mutate(sign(SECRET, BODY, NOW))  # type: ignore[operator]
    with pytest.raises(SignatureError, match=reason) as caught:
        verify(SECRET, headers, BODY, NOW)
    assert "\n" not in str(caught.value)


def test_a_changed_body_or_another_secret_is_a_mismatch() -> None:
    headers = sign(SECRET, BODY, NOW)
    with pytest.raises(SignatureError, match="signature mismatch"):
        verify(SECRET, headers, BODY + b" ", NOW)
    with pytest.raises(SignatureError, match="signature mismatch"):
        verify("another secret", headers, BODY, NOW)


def test_the_timestamp_is_signed_too() -> None:
    headers = sign(SECRET, BODY, NOW)
    headers["X-Ondo-Timestamp"] = str(int(NOW) + 10)
    with pytest.raises(SignatureError, match="signature mismatch"):
        verify(SECRET, headers, BODY, NOW)


def test_stale_and_future_timestamps() -> None:
    headers = sign(SECRET, BODY, NOW)
    verify(SECRET, headers, BODY, NOW + 300)
    with pytest.raises(SignatureError, match="stale timestamp: 301 s old"):
        verify(SECRET, headers, BODY, NOW + 301)
    verify(SECRET, headers, BODY, NOW - 300)
    with pytest.raises(SignatureError, match="timestamp in the future"):
        verify(SECRET, headers, BODY, NOW - 301)
    with pytest.raises(SignatureError, match="stale"):
        verify(SECRET, headers, BODY, NOW + 61, tolerance=60)


def test_rotation_any_v1_value_may_match() -> None:
    old = sign("old secret", BODY, NOW)["X-Ondo-Signature"]
    new = sign(SECRET, BODY, NOW)["X-Ondo-Signature"]
    headers = {"X-Ondo-Timestamp": str(int(NOW)), "X-Ondo-Signature": f"{old}, {new}, v2=xyz"}
    verify(SECRET, headers, BODY, NOW)
    verify("old secret", headers, BODY, NOW)
    with pytest.raises(SignatureError, match="mismatch"):
        verify("third", headers, BODY, NOW)


def test_no_secret_configured_is_refused_both_ways() -> None:
    with pytest.raises(SignatureError, match="no signing secret"):
        sign("", BODY, NOW)
    with pytest.raises(SignatureError, match="no signing secret"):
        verify("", sign(SECRET, BODY, NOW), BODY, NOW)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl on this machine")
def test_the_documented_openssl_line_makes_the_same_signature() -> None:
    ts = int(NOW)
    body = '{"event_id":"e1","type":"order.placed","customer":{"customer_id":"김"}}'
    done = subprocess.run(
        ["sh", "-c", 'printf \'%s.%s\' "$TS" "$BODY" | openssl dgst -sha256 -hmac "$SECRET" -hex'],
        env={"TS": str(ts), "BODY": body, "SECRET": SECRET, "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=True,
    )
    mac = done.stdout.strip().split(" ")[-1]
    headers = {"X-Ondo-Timestamp": str(ts), "X-Ondo-Signature": f"v1={mac}"}
    verify(SECRET, headers, body.encode(), NOW)
