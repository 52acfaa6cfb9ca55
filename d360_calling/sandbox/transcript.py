"""The transcript document a call's `call_transcription_available` webhook points to (API
reference, §11.1), from a script the test gives: the sandbox does no speech recognition.

`script_transcript(call_id, [("Business", "Hello"), ("Customer", "Hi")])` sets the lines; the
document spreads them evenly over the recording's length, words evenly over their line.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Final

from d360_calling.sandbox.errors import JsonObject

SPEAKERS: Final = {"Business": 0, "Customer": 1}
"""Who speaks, and the recording channel each is on (0 the business, 1 the user)."""
CONFIDENCE: Final = 0.95
"""The confidence of every scripted word and line: the script is the truth."""
NO_SCRIPT: Final = "sandbox: no speech recognition; use sandbox.script_transcript"
"""The note of a transcript the test scripted nothing for."""
SAMPLE_RATE: Final = 16_000
"""What Meta's transcript metadata gives for the audio it transcribed."""
SPOKEN: Final = 0.9
"""The share of each line's time slot spent speaking; the rest is the pause after it."""

Script = tuple[tuple[str, str], ...]
"""(speaker, text) lines, speakers as the document spells them."""


def check_script(lines: Iterable[tuple[str, str]]) -> Script:
    """The lines with their speakers spelled "Business"/"Customer" ("business" and
    "customer" are taken too); ValueError for another speaker or a text that is not a
    non-empty string."""
    checked = []
    for number, line in enumerate(lines):
        try:
            speaker, text = line
        except (TypeError, ValueError):
            raise ValueError(f"line {number}: a (speaker, text) pair, got {line!r}") from None
        name = speaker.capitalize() if isinstance(speaker, str) else speaker
        if name not in SPEAKERS:
            raise ValueError(f'line {number}: speaker is "Business" or "Customer", got {speaker!r}')
        if not isinstance(text, str) or not text.split():
            raise ValueError(f"line {number}: text is a non-empty string, got {text!r}")
        checked.append((str(name), " ".join(text.split())))
    return tuple(checked)


def _seconds(value: float) -> float:
    return round(value, 3)


def _segment(
    number: int, speaker: str, text: str, start: float, end: float, language: str
) -> JsonObject:
    words = text.split()
    step = (end - start) / len(words)
    return {
        "id": number,
        "speaker": speaker,
        "channel": SPEAKERS[speaker],
        "start": _seconds(start),
        "end": _seconds(end),
        "text": text,
        "confidence": CONFIDENCE,
        "words": [
            {
                "word": word,
                "start": _seconds(start + i * step),
                "end": _seconds(start + (i + 1) * step),
                "confidence": CONFIDENCE,
                "lang": language,
            }
            for i, word in enumerate(words)
        ],
    }


def transcript_document(
    script: Script | None, *, seconds: float, processed_at: float, language: str = "en"
) -> JsonObject:
    """The document for a recording `seconds` long, processed at `processed_at` (Unix
    seconds); without a script, an empty transcript whose metadata says why."""
    metadata: JsonObject = {
        "processed_at": datetime.fromtimestamp(int(processed_at), UTC)
        .isoformat()
        .replace("+00:00", "Z"),
        "audio": {
            "duration": _seconds(seconds),
            "sample_rate": SAMPLE_RATE,
            "channels": 2,
            "audio_format": "ogg",
        },
    }
    lines = script or ()
    if script is None:
        metadata["note"] = NO_SCRIPT
    slot = seconds / len(lines) if lines else 0.0
    segments = [
        _segment(i, speaker, text, i * slot, i * slot + slot * SPOKEN, language)
        for i, (speaker, text) in enumerate(lines)
    ]
    return {
        "metadata": metadata,
        "transcript": {
            "text": "\n".join(f"[{speaker}] {text}" for speaker, text in lines),
            "language": language,
            "duration": _seconds(seconds),
            "confidence": CONFIDENCE if lines else 0.0,
            "segments": segments,
        },
    }
