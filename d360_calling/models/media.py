"""Models of what a call leaves behind: the media reference a webhook carries, the media lookup's
answer, a finished download, and a call's transcript (reference §11.1, §11.2).

The transcript models are lenient: every field but the lists is optional and defaults to
`None`, unknown fields are ignored, and an empty transcript (an unsupported language) is valid.
Their numbers (seconds, confidences) are floats, which `numbers_checked` adds to the
construction checks of `checks.checked`.
"""

from __future__ import annotations

import math
import re
from types import NoneType, UnionType
from typing import Any, Final, Union, get_args, get_origin, get_type_hints

import attrs

from ..errors import ValidationError
from .checks import checked
from .enums import OpenEnum


def _hidden(value: str | None) -> str:
    return "None" if value is None else "'***'"


def _is_float(annotation: Any) -> bool:
    if annotation is float:
        return True
    args = get_args(annotation)
    return get_origin(annotation) in (Union, UnionType) and set(args) == {float, NoneType}


def _float_check(path: str, optional: bool) -> Any:
    def check(value: Any) -> Any:
        if value is None and optional:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            also = " or None" if optional else ""
            raise ValidationError(path, f"must be a number{also}, got {type(value).__name__}")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise ValidationError(path, "must be a finite number")
        return number

    return check


def numbers_checked(cls: type, fields: list[attrs.Attribute[Any]]) -> list[attrs.Attribute[Any]]:
    """`checks.checked`, with `float` fields taking any finite number (an int too) and refusing
    booleans, text, NaN and infinity with a `ValidationError` naming the field."""
    hints = get_type_hints(cls)
    floats = {field.name for field in fields if _is_float(hints[field.name])}
    others = iter(checked(cls, [field for field in fields if field.name not in floats]))
    out = []
    for field in fields:
        if field.name in floats:
            optional = hints[field.name] is not float
            out.append(field.evolve(converter=_float_check(field.name, optional)))
        else:
            out.append(next(others))
    return out


@attrs.frozen(field_transformer=checked)
class MediaRef:
    """A recording or transcript announced by a webhook: its media id, the base64 SHA-256 of
    its bytes, its MIME type and a 5-minute URL. The id and URL stay out of reprs (and so out
    of logs): they fetch the file."""

    id: str = attrs.field(repr=_hidden)
    sha256: str | None = None
    mime_type: str | None = None
    url: str | None = attrs.field(default=None, repr=_hidden)


@attrs.frozen(field_transformer=checked)
class MediaInfo:
    """The answer of `GET /{media-id}`: a short-lived `url` on Meta's host (fetched through
    360dialog), the MIME type, the base64 SHA-256 and the size of the file. The id and URL
    stay out of reprs."""

    url: str = attrs.field(repr=_hidden)
    mime_type: str | None = None
    sha256: str | None = None
    file_size: int | None = None
    id: str | None = attrs.field(default=None, repr=_hidden)
    messaging_product: str | None = None


@attrs.frozen(field_transformer=checked)
class MediaDownload:
    """A verified download: where it was written (`None` for a file object), how many bytes,
    their base64 SHA-256 and the MIME type."""

    path: str | None
    size: int
    sha256: str
    mime_type: str | None = None


class Speaker(OpenEnum):
    """Who spoke a transcript segment (channel 0 is the business, 1 the user)."""

    BUSINESS = "Business"
    CUSTOMER = "Customer"


@attrs.frozen(field_transformer=numbers_checked)
class TranscriptWord:
    """One word of a segment: its text, when it was said (seconds into the call), how sure the
    recogniser was (0 to 1) and its language."""

    word: str | None = None
    start: float | None = None
    end: float | None = None
    confidence: float | None = None
    lang: str | None = None


@attrs.frozen(field_transformer=numbers_checked)
class TranscriptSegment:
    """One stretch of speech by one side of the call, with its words."""

    id: int | None = None
    speaker: Speaker | None = None
    channel: int | None = None
    start: float | None = None
    end: float | None = None
    text: str | None = None
    confidence: float | None = None
    words: tuple[TranscriptWord, ...] = ()


@attrs.frozen(field_transformer=numbers_checked)
class TranscriptAudio:
    """The recording the transcript was made from."""

    duration: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    audio_format: str | None = None


@attrs.frozen(field_transformer=checked)
class TranscriptMetadata:
    """When the transcript was made (as Meta writes it) and from what audio."""

    processed_at: str | None = None
    audio: TranscriptAudio | None = None


_LABELLED: Final = re.compile(r"\[(?P<speaker>[^\]\r\n]{1,40})\]\s*(?P<text>.*)")
"""A line of the transcript's `text`: `[Business] Hello`."""

Turn = tuple[Speaker | None, str]


@attrs.frozen(field_transformer=numbers_checked)
class Transcript:
    """A call's transcript document (reference §11.1): the whole text (lines labelled
    `[Business]` / `[Customer]`), the detected language (ISO 639), the duration in seconds, the
    overall confidence, the segments per speaker, and the metadata. Structured from the
    document Meta sends (`{"metadata": ..., "transcript": {...}}`) or from this flat shape."""

    language: str | None = None
    duration: float | None = None
    confidence: float | None = None
    text: str | None = None
    segments: tuple[TranscriptSegment, ...] = ()
    metadata: TranscriptMetadata | None = None

    def turns(self) -> tuple[Turn, ...]:
        """Who said what, in order: consecutive segments of one speaker joined into a turn.
        Without segments, the `[Business]` / `[Customer]` lines of `text` are read instead."""
        pieces: list[Turn] = []
        if self.segments:
            pieces = [(s.speaker, s.text.strip()) for s in self.segments if s.text]
        elif self.text:
            for line in self.text.splitlines():
                match = _LABELLED.fullmatch(line.strip())
                if match is not None:
                    pieces.append((Speaker(match["speaker"].strip()), match["text"].strip()))
                elif line.strip():
                    pieces.append((None, line.strip()))
        turns: list[Turn] = []
        for speaker, text in pieces:
            if not text:
                continue
            if turns and turns[-1][0] == speaker:
                turns[-1] = (speaker, f"{turns[-1][1]} {text}")
            else:
                turns.append((speaker, text))
        return tuple(turns)
