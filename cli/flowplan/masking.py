"""Secret values never leave the process in clear: every secret read (from the store, or
resolved for a step) is registered here, and everything the process prints or writes (the
console, streamed step output, step errors, crash logs, a run's logs and state messages) passes
through `mask`, or `clean` where the text comes from a step or a flow.

A secret is registered in every form it can take in output: its text; for a JSON secret, each
field's value and the whole document as `json.dumps` renders it (default and compact
separators); for a URL, the password of its userinfo (the user when it has none); and each of
these as it appears percent-encoded (in a URL) or escaped (inside a JSON string)."""

from __future__ import annotations

import io
import json
import re
from functools import cache
from typing import Any, TextIO

MASK = "********"
MIN_LENGTH = 4  # shorter values would mask ordinary text
MIN_NUMBER_LENGTH = 6  # a JSON secret's ports and counts stay readable; ids and PINs do not
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def forms(value: object) -> set[str]:
    """Every text under which `value` (a secret, or a value read from one) can be printed."""
    from urllib.parse import quote  # not on the start-up path of every command

    found: set[str] = set()
    _collect(value, found, top=True)
    texts = set(found)
    for text in texts:
        found.add(quote(text, safe=""))
        found.add(json.dumps(text)[1:-1])
    return {text for text in found if len(text) >= MIN_LENGTH}


def _collect(value: object, found: set[str], top: bool = False) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int | float):
        text = json.dumps(value)
        if len(text) >= MIN_NUMBER_LENGTH:
            found.update((text, str(value)))
    elif isinstance(value, str):
        found.add(value)
        _collect_text(value, found)
    elif isinstance(value, dict | list | tuple):
        items = value.values() if isinstance(value, dict) else value
        for item in items:
            _collect(item, found)
        if top:
            found.update(_documents(value))


def _collect_text(text: str, found: set[str]) -> None:
    """What a secret's text holds: a JSON document's fields, a URL's password (a user name
    such as `postgres` would mask ordinary text)."""
    if text.lstrip()[:1] in ("{", "["):
        try:
            document: Any = json.loads(text)
        except ValueError:
            document = None
        if isinstance(document, dict | list):
            _collect(document, found, top=True)
            return
    if "://" in text and "@" in text:
        from urllib.parse import unquote, urlsplit

        try:
            parts = urlsplit(text.strip())
        except ValueError:
            return
        secret = parts.password or parts.username  # `https://TOKEN@host` has no password
        if secret:
            found.update((secret, unquote(secret)))


def _documents(value: object) -> set[str]:
    try:
        return {json.dumps(value), json.dumps(value, separators=(",", ":"))}
    except (TypeError, ValueError):
        return set()


def register(value: object) -> None:
    """Mask this value (text, or the texts inside a mapping or list), in each of its forms, in
    all later output."""
    global _pattern
    new = forms(value) - _secrets
    if new:
        _secrets.update(new)
        # longest first: a secret containing another is masked whole
        ordered = sorted(_secrets, key=lambda text: (-len(text), text))
        _pattern = re.compile("|".join(map(re.escape, ordered)))


def mask(text: str) -> str:
    pattern = _pattern
    return pattern.sub(MASK, text) if pattern is not None else text


def holds_secret(value: object) -> bool:
    """Whether a registered secret appears in this text, or in a text inside this mapping or
    list (keys included)."""
    pattern = _pattern
    if pattern is None:
        return False
    if isinstance(value, str):
        return pattern.search(value) is not None
    if isinstance(value, dict):
        return any(holds_secret(key) or holds_secret(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(holds_secret(item) for item in value)
    return False


def clean(text: str) -> str:
    """What a step or a flow wrote, or an error it raised: registered secrets masked, and any
    credentials written into a URL (`https://user:token@host` -> `https://********@host`)."""
    text = mask(text)
    if "://" not in text:  # the common case, at a fraction of the expression's cost
        return text
    return _url_credentials().sub(lambda m: f"{m.group('scheme')}{MASK}@", text)


@cache
def _url_credentials() -> re.Pattern[str]:
    return re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


class MaskedStream(io.TextIOBase):
    """A text stream that masks what is written to it, then passes it on."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(mask(text))
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
