"""Webhook signatures (API reference §4.8): HMAC-SHA256 of the raw body, compared in constant time.

360dialog signs with `x-360dialog-signature` (bare hex in most integrations, `sha256=<hex>` in
one), Meta with `X-Hub-Signature-256: sha256=<hex>`; both are accepted, header names in any case.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Literal

from d360_calling.errors import ValidationError

from .errors import SignatureError

DIALOG_SIGNATURE_HEADER = "x-360dialog-signature"
"""360dialog's header: HMAC-SHA256 of the raw body keyed with the Partner Hub platform secret."""

META_SIGNATURE_HEADER = "X-Hub-Signature-256"
"""Meta's header, `sha256=<hex>`, keyed with the app secret."""

SignatureScheme = Literal["360dialog", "meta"]

_HEADERS = {DIALOG_SIGNATURE_HEADER.lower(), META_SIGNATURE_HEADER.lower()}
_SIGNATURE = re.compile(r"(?:sha256=)?([0-9a-f]{64})", re.IGNORECASE)


def _digest(raw_body: bytes, secret: str) -> str:
    if not secret:
        raise ValidationError("secret", "must not be empty")
    return hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()


def sign(raw_body: bytes, secret: str, scheme: SignatureScheme = "360dialog") -> dict[str, str]:
    """The header that signs `raw_body` as 360dialog or Meta would, for the sandbox and tests."""
    digest = _digest(raw_body, secret)
    if scheme == "meta":
        return {META_SIGNATURE_HEADER: f"sha256={digest}"}
    if scheme == "360dialog":
        return {DIALOG_SIGNATURE_HEADER: digest}
    raise ValidationError("scheme", f'expected "360dialog" or "meta", got {scheme!r}')


def verify(raw_body: bytes, headers: Mapping[str, str], secret: str) -> None:
    """Raise `SignatureError` unless a signature header matches `raw_body` under `secret`.

    Pass the body exactly as received: re-encoded JSON has other bytes and never matches.
    """
    expected = _digest(raw_body, secret)
    mismatched: list[str] = []
    malformed: list[str] = []
    for name, value in headers.items():
        lowered = name.lower()
        if lowered not in _HEADERS:
            continue
        match = _SIGNATURE.fullmatch(value.strip()) if isinstance(value, str) else None
        if match is None:
            malformed.append(lowered)
        elif hmac.compare_digest(expected, match.group(1).lower()):
            return
        else:
            mismatched.append(lowered)
    if mismatched:
        raise SignatureError(f"{', '.join(mismatched)}: signature does not match the body")
    if malformed:
        raise SignatureError(
            f"{', '.join(malformed)}: malformed, expected [sha256=]<64 hex digits>"
        )
    raise SignatureError(
        f"no signature: expected a {DIALOG_SIGNATURE_HEADER} or {META_SIGNATURE_HEADER} header"
    )
