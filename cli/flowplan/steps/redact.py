"""Keeping secrets out of everything flowplan prints: step errors, git's messages, logs."""

from __future__ import annotations

import re

from flowplan import masking
from flowplan.masking import MASK

_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


class Redactor:
    """Masks secret values as they are resolved, and credentials written into URLs. Values go to
    the process-wide register (`flowplan.masking`), so everything printed later masks them too."""

    def add(self, value: object) -> None:
        masking.register(value)

    def clean(self, text: str) -> str:
        return _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}{MASK}@", masking.mask(text))
