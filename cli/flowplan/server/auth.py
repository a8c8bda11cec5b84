"""Who may call the server. A loopback bind (127.0.0.1, ::1, localhost) serves this machine's
users, as the store file itself does: no token. Any other bind (127.0.0.2 and 0.0.0.0
included: only those three names are exempt) needs a bearer token on every request but the
health check: given with `--token` or FLOWPLAN_SERVER_TOKEN, else read from (or generated on
first start into) the 0600 file `$FLOWPLAN_HOME/server-token`."""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from flowplan import files
from flowplan.errors import FlowplanError, InvalidInput

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
TOKEN_FILE = "server-token"
MIN_TOKEN_LENGTH = 16


@dataclass(frozen=True)
class TokenSource:
    token: str | None  # None: no token needed
    origin: str  # "none", "given", "file", "generated"
    path: Path | None = None


def needs_token(host: str) -> bool:
    return host not in LOOPBACK


def choose_token(host: str, given: str | None, home: Path) -> TokenSource:
    if given is not None:
        if len(given) < MIN_TOKEN_LENGTH:
            raise InvalidInput(f"the server token must have at least {MIN_TOKEN_LENGTH}"
                               " characters")  # fmt: skip
        return TokenSource(given, "given")
    if not needs_token(host):
        return TokenSource(None, "none")
    path = home / TOKEN_FILE
    if not path.exists() and not path.is_symlink():
        return TokenSource(_generate(path), "generated", path)
    try:
        token = files.read_text(path, limit=4096).strip()
    except files.UnreadableFile as exc:
        raise FlowplanError(f"cannot read the server token {path}: {exc.reason}") from None
    if len(token) < MIN_TOKEN_LENGTH:
        raise FlowplanError(f"the server token in {path} is shorter than {MIN_TOKEN_LENGTH}"
                            " characters", hint="delete the file to get a new one")  # fmt: skip
    return TokenSource(token, "file", path)


def _generate(path: Path) -> str:
    token = secrets.token_urlsafe(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another server wrote it first: use that one
        try:
            return files.read_text(path, limit=4096).strip()
        except files.UnreadableFile as exc:
            raise FlowplanError(f"cannot read the server token {path}: {exc.reason}") from None
    except OSError as exc:
        raise FlowplanError(f"cannot write the server token {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


def authorized(header: str | None, token: str | None) -> bool:
    """`Authorization: Bearer <token>`, or `Basic <base64 of the token>` (what Prefect's client
    sends for PREFECT_API_AUTH_STRING), compared in constant time."""
    if token is None:
        return True
    scheme, _, value = (header or "").partition(" ")
    given = value.strip().encode()
    if scheme.lower() == "basic":
        try:
            given = base64.b64decode(given, validate=True)
        except (ValueError, binascii.Error):
            return False
    elif scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given, token.encode())
