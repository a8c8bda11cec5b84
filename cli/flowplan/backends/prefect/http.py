"""The one seam to a Prefect server: requests (see `transport`) with the API key, the API
version header, retries that never repeat a write blindly, and the server's answers turned into
flowplan's errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from flowplan.backends.prefect.transport import Lost, Response, Transport, Unreachable
from flowplan.errors import FlowplanError, InvalidInput, ObjectAlreadyExists, ObjectNotFound

API_VERSION = "0.8.4"  # the API version Prefect 3.x clients send
RETRIED_STATUS = frozenset({429, 502, 503, 504})
CONNECT_RETRIES = 3
PAGE = 200


class Gate:
    """How many writes may be in flight: up to `most`, halved when the server says it is busy
    (429/503: a SQLite-backed server answers 503 while its file is locked), and widened again
    by one after every 20 writes that went through."""

    def __init__(self, most: int) -> None:
        self.most = self.width = max(1, most)
        self._busy = 0
        self._streak = 0
        self._cond = threading.Condition()

    def __enter__(self) -> None:
        with self._cond:
            while self._busy >= self.width:
                self._cond.wait()
            self._busy += 1

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._busy -= 1
            self._cond.notify_all()

    def result(self, busy: bool) -> None:
        with self._cond:
            if busy:
                self.width, self._streak = max(1, self.width // 2), 0
            else:
                self._streak += 1
                if self._streak >= 20 and self.width < self.most:
                    self.width, self._streak = self.width + 1, 0
            self._cond.notify_all()


class ServerError(FlowplanError):
    """The server answered with an error that is not about the request's content."""


class Api:
    """A thread-safe client (one connection pool) for `url` (ending in `/api`)."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        retries: int = 15,
        backoff: float = 0.05,
        timeout: float = 30,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url.rstrip("/")
        headers = {"X-PREFECT-API-VERSION": API_VERSION, "User-Agent": "flowplan"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        try:
            self._client = Transport(self.url, headers, timeout)
        except Unreachable as exc:
            raise FlowplanError(f"cannot call the Prefect API at {self.url} ({exc})") from None
        self.retries, self.backoff, self._sleep = retries, backoff, sleep
        self.gate = Gate(16)

    def close(self) -> None:
        self._client.close()

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=params or None)

    def post(self, path: str, body: Any = None, *, idempotent: bool = False) -> Any:
        """A POST; `idempotent` for reads (`/filter`) and upserts, which may be sent again."""
        return self.call("POST", path, body, idempotent=idempotent)

    def patch(self, path: str, body: Any) -> Any:
        return self.call("PATCH", path, body, idempotent=True)

    def delete(self, path: str) -> Any:
        return self.call("DELETE", path, idempotent=True)

    def filter(
        self, path: str, body: Mapping[str, Any] | None = None, start: int = 0
    ) -> Iterator[Any]:
        """Every object a `/filter` endpoint gives from the `start`-th, page by page."""
        offset = start
        while True:
            page = self.post(path, {**(body or {}), "offset": offset, "limit": PAGE},
                             idempotent=True)  # fmt: skip
            yield from page
            if len(page) < PAGE:
                return
            offset += PAGE

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one request. 429/502/503/504 and refused connections are retried for any call
        (the server did not act on it); a request that may have reached the server (a timeout,
        a dropped connection) is sent again only when it is idempotent."""
        safe = method in ("GET", "PATCH", "DELETE") if idempotent is None else idempotent
        attempt = 0
        while True:
            attempt += 1
            delay = min(2.0, self.backoff * 2 ** (attempt - 1))
            try:
                if method == "GET" or path.endswith("/filter"):
                    response = self._client.request(method, path, body, params)
                else:
                    with self.gate:
                        response = self._client.request(method, path, body)
                    self.gate.result(response.status in (429, 503))
            except Unreachable as exc:
                if attempt > CONNECT_RETRIES:  # a server that is down stays down: say so soon
                    raise FlowplanError(
                        f"cannot reach the Prefect API at {self.url} ({_reason(exc)})",
                        hint="is the server running? check --api-url / PREFECT_API_URL",
                    ) from None
                self._sleep(delay)
                continue
            except Lost as exc:
                if (method == "GET" or path.endswith("/filter")) and attempt > self.retries:
                    raise FlowplanError(  # a read: nothing to have been applied
                        f"the Prefect API at {self.url} could not be reached for {method} {path}"
                        f" ({_reason(exc)})",
                        hint="is the server running? check --api-url / PREFECT_API_URL",
                    ) from None
                if not safe or attempt > self.retries:
                    raise FlowplanError(
                        f"the Prefect API at {self.url} did not answer {method} {path}"
                        f" ({_reason(exc)}); the call may or may not have been applied",
                        hint="run the command again: apply converges",
                    ) from None
                self._sleep(delay)
                continue
            if response.status in RETRIED_STATUS and attempt <= self.retries:
                self._sleep(_wait(response, _jitter(delay)))
                continue
            return _result(response, method, path)


def _jitter(seconds: float) -> float:
    """Spread retries out: writers that collided (a SQLite server answers 503 while its file
    is locked) should not collide again."""
    import random

    return seconds * (0.5 + random.random())


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _wait(response: Response, default: float) -> float:
    """`Retry-After` in seconds when the server gives it (capped), else the backoff."""
    try:
        return min(float(response.headers.get("retry-after", "")), 60.0)
    except ValueError:
        return default


def _detail(response: Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason
    if isinstance(data, dict):
        detail = data.get("detail") or data.get("exception_detail") or data
        if isinstance(detail, list):  # pydantic errors: where and what
            return "; ".join(
                f"{'.'.join(str(p) for p in item.get('loc', [])[1:])}: {item.get('msg')}"
                for item in detail
                if isinstance(item, dict)
            )
        return str(detail)
    return str(data)


def _result(response: Response, method: str, path: str) -> Any:
    status = response.status
    if status < 400:
        return response.json() if response.content else None
    detail = _detail(response)
    if status in (401, 403) and "reserved" not in detail.lower():
        raise FlowplanError(
            f"the Prefect API refused the request ({status}: {detail})",
            hint="check PREFECT_API_KEY" if status == 401 else "check the key's permissions",
        )
    if status == 404:
        raise ObjectNotFound(detail)
    if status == 409 and "already exists" in detail:
        raise ObjectAlreadyExists(detail)
    if status in (400, 403, 409, 422):
        hint = None
        if "Extra inputs are not permitted" in detail:
            hint = ("this server's API does not know that field: it may run another Prefect"
                    " version (flowplan is tested with Prefect 3.9)")  # fmt: skip
        raise InvalidInput(f"the Prefect API rejected {method} {path}: {detail}", hint=hint)
    raise ServerError(f"the Prefect API failed on {method} {path} ({status}: {detail})")
