"""Models of `POST /calling/calls`: the call actions, their bodies and their results."""

from __future__ import annotations

from typing import Final, Self

import attrs

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


@attrs.frozen(field_transformer=checked)
class Recording:
    """Ask Meta to record the call (`connect` or `accept`): it announces `purpose` to both
    sides in `announcement_language` first, then posts `call_recording_available`."""

    purpose: str
    announcement_language: str = "en"


@attrs.frozen(field_transformer=checked)
class Transcription:
    """Ask Meta to transcribe the call (`connect` or `accept`); with `Recording` too, the
    recording's purpose and language are the ones announced. Ends in
    `call_transcription_available`."""

    purpose: str
    announcement_language: str = "en"


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
