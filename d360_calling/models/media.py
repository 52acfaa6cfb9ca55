"""Models of what a call leaves behind: the media reference a webhook carries."""

from __future__ import annotations

import attrs

from .checks import checked


def _hidden(value: str | None) -> str:
    return "None" if value is None else "'***'"


@attrs.frozen(field_transformer=checked)
class MediaRef:
    """A recording or transcript announced by a webhook: its media id, the base64 SHA-256 of
    its bytes, its MIME type and a 5-minute URL. The id and URL stay out of reprs (and so out
    of logs): they fetch the file."""

    id: str = attrs.field(repr=_hidden)
    sha256: str | None = None
    mime_type: str | None = None
    url: str | None = attrs.field(default=None, repr=_hidden)
