"""Keeping secrets out of everything flowplan prints: step errors, git's messages, logs."""

from __future__ import annotations

import re

from flowplan import masking
from flowplan.masking import MASK

_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


class Redactor:
    """Collects secret values as they are resolved and replaces them in any text."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, value: object) -> None:
        """Mask this value here, and in everything else the process prints from now on."""
        if isinstance(value, str) and len(value) >= 4:
            self._secrets.add(value)
        elif isinstance(value, dict):
            for item in value.values():
                self.add(item)
        masking.register(value)

    def clean(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        text = masking.mask(text)
        return _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
