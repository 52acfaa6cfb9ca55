"""`webhooks.verify` and `webhooks.sign`: HMAC-SHA256 of the raw body under either header (§4.8)."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from d360_calling.errors import D360Error, ValidationError
from d360_calling.webhooks.errors import SignatureError, WebhookError
from d360_calling.webhooks.verify import SignatureScheme, sign, verify

SECRET = "platform-secret-0123456789"
BODY = b'{"object":"whatsapp_business_account","entry":[]}'
DIGEST = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()


def test_sign_360dialog_is_bare_lowercase_hex() -> None:
    assert sign(BODY, SECRET) == {"x-360dialog-signature": DIGEST}
    assert sign(BODY, SECRET, "360dialog") == {"x-360dialog-signature": DIGEST}


def test_sign_meta_has_the_sha256_prefix() -> None:
    assert sign(BODY, SECRET, "meta") == {"X-Hub-Signature-256": f"sha256={DIGEST}"}


def test_sign_refuses_an_unknown_scheme() -> None:
    with pytest.raises(ValidationError, match="scheme"):
        sign(BODY, SECRET, "md5")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "headers",
    [
        {"x-360dialog-signature": DIGEST},
        {"x-360dialog-signature": f"sha256={DIGEST}"},
        {"x-360dialog-signature": DIGEST.upper()},
        {"x-360dialog-signature": f" {DIGEST}\t"},
        {"X-360Dialog-Signature": DIGEST},
        {"X-360DIALOG-SIGNATURE": f"sha256={DIGEST}"},
        {"X-Hub-Signature-256": f"sha256={DIGEST}"},
        {"x-hub-signature-256": f"sha256={DIGEST}"},
        {"X-HUB-SIGNATURE-256": f"SHA256={DIGEST}"},
        {"Content-Type": "application/json", "x-360dialog-signature": DIGEST},
    ],
)
def test_valid_signatures_pass(headers: dict[str, str]) -> None:
    verify(BODY, headers, SECRET)


@pytest.mark.parametrize("scheme", ["360dialog", "meta"])
def test_sign_then_verify_with_aiohttp_headers(scheme: str) -> None:
    headers = CIMultiDictProxy(CIMultiDict(sign(BODY, SECRET, scheme)))  # type: ignore[arg-type]
    verify(BODY, headers, SECRET)


def test_one_good_header_is_enough() -> None:
    headers = {"x-360dialog-signature": "0" * 64, "X-Hub-Signature-256": f"sha256={DIGEST}"}
    verify(BODY, headers, SECRET)
    verify(BODY, {"x-360dialog-signature": "garbage", **sign(BODY, SECRET, "meta")}, SECRET)


def assert_safe(error: SignatureError) -> None:
    text = f"{error} {error!r} {error.args}"
    assert SECRET not in text
    assert DIGEST not in text
    assert isinstance(error, WebhookError)
    assert isinstance(error, D360Error)


def test_wrong_secret_is_refused() -> None:
    with pytest.raises(SignatureError, match="does not match") as caught:
        verify(BODY, sign(BODY, "another-secret"), SECRET)
    assert_safe(caught.value)


@pytest.mark.parametrize("scheme", ["360dialog", "meta"])
def test_tampered_body_is_refused(scheme: str) -> None:
    headers = sign(BODY, SECRET, scheme)  # type: ignore[arg-type]
    with pytest.raises(SignatureError, match="does not match") as caught:
        verify(BODY.replace(b"[]", b"[{}]"), headers, SECRET)
    assert_safe(caught.value)


def test_re_encoded_body_is_refused() -> None:
    with pytest.raises(SignatureError):
        verify(BODY.replace(b",", b", "), sign(BODY, SECRET), SECRET)


@pytest.mark.parametrize("headers", [{}, {"Content-Type": "application/json"}])
def test_missing_header_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureError, match="no signature") as caught:
        verify(BODY, headers, SECRET)
    assert_safe(caught.value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "sha256=",
        "sha1=" + DIGEST[:40],
        DIGEST[:-1],
        DIGEST + "0",
        "g" * 64,
        f"sha256={DIGEST}\nx",
        f"md5={DIGEST}",
    ],
)
def test_malformed_header_is_refused(value: str) -> None:
    with pytest.raises(SignatureError, match="malformed") as caught:
        verify(BODY, {"x-360dialog-signature": value}, SECRET)
    assert_safe(caught.value)


def test_empty_secret_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="secret"):
        verify(BODY, {"x-360dialog-signature": DIGEST}, "")
    with pytest.raises(ValidationError, match="secret"):
        sign(BODY, "")


@given(st.binary(), st.text(min_size=1), st.sampled_from(["360dialog", "meta"]))
def test_verify_accepts_what_sign_produces(body: bytes, secret: str, scheme: str) -> None:
    verify(body, sign(body, secret, scheme), secret)  # type: ignore[arg-type]


@given(st.binary(), st.binary(min_size=1))
def test_verify_refuses_any_other_body(body: bytes, suffix: bytes) -> None:
    with pytest.raises(SignatureError):
        verify(body + suffix, sign(body, SECRET), SECRET)


@pytest.mark.parametrize("scheme", ["360dialog", "meta"])
def test_a_signature_replayed_onto_another_delivery_is_refused(scheme: SignatureScheme) -> None:
    """A captured (body, signature) pair proves nothing for any other body; the same pair sent
    again verifies, which is why the receiver also drops repeated events by key."""
    earlier = b'{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[]}]}'
    headers = sign(earlier, SECRET, scheme)
    verify(earlier, headers, SECRET)
    with pytest.raises(SignatureError, match="does not match"):
        verify(BODY, headers, SECRET)
