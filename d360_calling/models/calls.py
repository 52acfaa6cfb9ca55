"""Models of `POST /calling/calls`: the call actions, their bodies and their results."""

from __future__ import annotations

from typing import Any, Final, Self

import attrs

from ..errors import ValidationError
from .checks import checked
from .enums import OpenEnum


class SdpType(OpenEnum):
    """Which side of the SDP exchange a session description is."""

    OFFER = "offer"
    ANSWER = "answer"


class CallAction(OpenEnum):
    """The actions `POST /calling/calls` performs."""

    CONNECT = "connect"
    PRE_ACCEPT = "pre_accept"
    ACCEPT = "accept"
    REJECT = "reject"
    TERMINATE = "terminate"


class FeatureStatus(OpenEnum):
    """On or off, as the API spells it."""

    ENABLED = "ENABLED"
    DISABLED = "DISABLED"


@attrs.frozen(field_transformer=checked)
class SessionDescription:
    """An SDP offer or answer (RFC 8866 text): `connect` sends an offer, `accept` an answer."""

    sdp_type: SdpType = attrs.field(converter=SdpType)
    sdp: str = attrs.field(repr=lambda sdp: f"<{len(sdp)} chars>")

    @classmethod
    def offer(cls, sdp: str) -> Self:
        """An SDP offer, as `calls.connect` sends."""
        return cls(SdpType.OFFER, sdp)

    @classmethod
    def answer(cls, sdp: str) -> Self:
        """An SDP answer, as `calls.pre_accept` and `calls.accept` send."""
        return cls(SdpType.ANSWER, sdp)


@attrs.frozen(field_transformer=checked)
class MediaFeature:
    """Call recording or transcription on `connect` / `accept` (purpose and language if on)."""

    status: FeatureStatus = attrs.field(converter=FeatureStatus)
    purpose: str | None = None
    announcement_language: str | None = None


ANNOUNCEMENT_LANGUAGES: Final = (
    "en", "en_US", "en_AU", "en_CA", "en_GB", "en_IN", "en_NZ", "nl", "fr", "de",
    "hi", "it", "kn", "pt", "es", "es_ES", "te", "vi",
)  # fmt: skip
"""The consent announcement's languages Meta documents (reference §11.1)."""

MAX_PURPOSE: Final = 250
"""The longest recording or transcription purpose Meta accepts, in characters."""


def check_purpose(field: str, value: object) -> str:
    """A purpose Meta announces to both sides: 1-250 characters, not only spaces, no NUL."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "is required: the reason announced to both sides")
    if len(value) > MAX_PURPOSE:
        raise ValidationError(field, f"at most {MAX_PURPOSE} characters, got {len(value)}")
    if "\x00" in value:
        raise ValidationError(field, "must not contain NUL")
    return value


def check_language(field: str, value: object) -> str:
    """An announcement language Meta documents (`ANNOUNCEMENT_LANGUAGES`, spelled exactly)."""
    if not isinstance(value, str) or value not in ANNOUNCEMENT_LANGUAGES:
        known = ", ".join(ANNOUNCEMENT_LANGUAGES)
        raise ValidationError(field, f"must be one of {known}, got {value!r}")
    return value


def _valid_purpose(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    check_purpose(f"{type(instance).__name__.lower()}.{attribute.name}", value)


def _valid_language(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    check_language(f"{type(instance).__name__.lower()}.{attribute.name}", value)


@attrs.frozen(field_transformer=checked)
class Recording:
    """Ask Meta to record the call (`connect` or `accept`): it announces `purpose` to both
    sides in `announcement_language` first, then posts `call_recording_available`.

    Checked when made (`Recording("")` raises `ValidationError` naming `recording.purpose`)
    and again before it is sent."""

    purpose: str = attrs.field(validator=_valid_purpose)
    announcement_language: str = attrs.field(default="en", validator=_valid_language)


@attrs.frozen(field_transformer=checked)
class Transcription:
    """Ask Meta to transcribe the call (`connect` or `accept`); with `Recording` too, the
    recording's purpose and language are the ones announced. Ends in
    `call_transcription_available`. Checked like `Recording`."""

    purpose: str = attrs.field(validator=_valid_purpose)
    announcement_language: str = attrs.field(default="en", validator=_valid_language)


def as_media_feature(option: MediaFeature | Recording | Transcription) -> MediaFeature:
    """`option` in the wire form: a `Recording` or `Transcription` is an ENABLED feature."""
    if isinstance(option, MediaFeature):
        return option
    return MediaFeature(FeatureStatus.ENABLED, option.purpose, option.announcement_language)


@attrs.frozen(field_transformer=checked)
class CallActionBody:
    """The JSON body of `POST /calling/calls`, `None` fields left out."""

    messaging_product: str
    action: CallAction = attrs.field(converter=CallAction)
    call_id: str | None = None
    to: str | None = None
    session: SessionDescription | None = None
    biz_opaque_callback_data: str | None = None
    recording: MediaFeature | None = None
    transcription: MediaFeature | None = None


@attrs.frozen(field_transformer=checked)
class CallActionResult:
    """The answer to `pre_accept`, `accept`, `reject` and `terminate`."""

    success: bool
    messaging_product: str | None = None


@attrs.frozen(field_transformer=checked)
class ConnectResult:
    """The answer to `connect`: the new call's id (`wacid.…`)."""

    call_id: str
    success: bool | None = None
    messaging_product: str | None = None
