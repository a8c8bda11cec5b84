"""Secret values never leave the process in clear: every secret read (from the store, or
resolved for a step) is registered here, and everything the process prints or writes (the
console, streamed step output, crash logs, a run's logs) passes through `mask`."""

from __future__ import annotations

import io
from typing import TextIO

MASK = "********"
MIN_LENGTH = 4  # shorter values would mask ordinary text
_secrets: set[str] = set()
_ordered: list[str] = []  # longest first, so a secret containing another is masked whole


def register(value: object) -> None:
    """Mask this value (text, or the texts inside a mapping or list) in all later output."""
    if isinstance(value, str):
        if len(value) >= MIN_LENGTH and value not in _secrets:
            _secrets.add(value)
            _ordered[:] = sorted(_secrets, key=len, reverse=True)
    elif isinstance(value, dict):
        for item in value.values():
            register(item)
    elif isinstance(value, list | tuple):
        for item in value:
            register(item)


def mask(text: str) -> str:
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class MaskedStream(io.TextIOBase):
    """A text stream that masks what is written to it, then passes it on."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(mask(text) if _ordered else text)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", "utf-8")

    def reconfigure(self, **options: object) -> None:
        reconfigure = getattr(self.stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(**options)
