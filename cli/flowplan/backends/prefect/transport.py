"""HTTP/1.1 to one server over the standard library's `http.client`: kept-alive connections
shared by threads, TLS verified as Prefect's own client verifies it (SSL_CERT_FILE and
SSL_CERT_DIR, else certifi's bundle), and the HTTP(S)_PROXY/NO_PROXY variables honoured. A
third of httpx's CPU for each request (an apply of 1,000 deployments makes 1,000 of them) and
none of its import time.

Errors: `Unreachable` when no connection could be made (nothing was sent), `Lost` when the
request may have reached the server (a timeout, a dropped connection)."""

from __future__ import annotations

import http.client
import json
import select
import threading
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

IDLE_KEPT = 16  # connections kept open for the next requests


class TransportError(Exception):
    """The request got no answer."""


class Unreachable(TransportError):
    """No connection could be made: the request was not sent."""


class Lost(TransportError):
    """The request may have reached the server, which did not answer."""


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: Mapping[str, str]  # names in lower case
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class Transport:
    """Requests to the server at `base` (an http or https URL: paths are relative to it)."""

    def __init__(self, base: str, headers: Mapping[str, str], timeout: float) -> None:
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Unreachable(f"not an http(s) URL: {base!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/") + "/"
        self._headers = {**headers, "Accept": "application/json"}
        self._timeout = timeout
        self._proxy = _proxy_for(parts.scheme, self._host)
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._tls: Any = None  # the TLS context, made for the first https connection

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Response:
        # characters a path cannot hold (spaces, controls, non-ASCII) are escaped, as httpx
        # did; escapes already made (`%20`) and the path's own delimiters are kept
        target = quote(self._prefix + path.lstrip("/"), safe="/%:@!$&'()*+,;=~")
        query = {k: v for k, v in (params or {}).items() if v is not None}
        if query:
            target += "?" + urlencode(query, doseq=True)
        if self._proxy is not None and not self._https:  # a plain-HTTP proxy takes whole URLs
            target = f"http://{self._host}:{self._port}{target}"
        headers = dict(self._headers)
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        connection = self._connection()
        if connection.sock is None:
            try:
                connection.connect()  # and the proxy's tunnel, and TLS: nothing is sent yet
            except OSError as exc:
                connection.close()
                raise Unreachable(_reason(exc)) from None
        try:
            connection.request(method, target, payload, headers)
            answer = connection.getresponse()
            content = answer.read()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise Lost(_reason(exc)) from None
        response = Response(answer.status, answer.reason,
                            {k.lower(): v for k, v in answer.getheaders()}, content)  # fmt: skip
        if answer.will_close:
            connection.close()
        else:
            self._keep(connection)
        return response

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _connection(self) -> http.client.HTTPConnection:
        """A kept connection the server has not closed meanwhile, else a new one."""
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                return self._new()
            sock = connection.sock
            if sock is not None and not select.select([sock], [], [], 0)[0]:
                return connection  # readable while idle: the server closed it (or broke it)
            connection.close()

    def _new(self) -> http.client.HTTPConnection:
        if self._https:
            with self._lock:
                if self._tls is None:
                    self._tls = tls_context()
            host, port = self._proxy or (self._host, self._port)
            secure = http.client.HTTPSConnection(
                host, port, timeout=self._timeout, context=self._tls
            )
            if self._proxy is not None:  # through the proxy's CONNECT tunnel
                secure.set_tunnel(self._host, self._port)
            return secure
        host, port = self._proxy or (self._host, self._port)
        return http.client.HTTPConnection(host, port, timeout=self._timeout)

    def _keep(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < IDLE_KEPT:
                self._idle.append(connection)
                return
        connection.close()


def tls_context() -> Any:
    """Certificates verified against SSL_CERT_FILE or SSL_CERT_DIR when set, else certifi's
    bundle (what Prefect's client uses), host names checked."""
    import os
    import ssl

    cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    if not cafile and not capath:
        import certifi

        cafile = certifi.where()
    return ssl.create_default_context(cafile=cafile or None, capath=capath or None)


def _proxy_for(scheme: str, host: str) -> tuple[str, int] | None:
    """The proxy HTTP(S)_PROXY names for this scheme, unless NO_PROXY exempts `host`."""
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(scheme)
    if not proxy or bypassed(host, proxies.get("no", "")):
        return None
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if not parts.hostname:
        return None
    return parts.hostname, parts.port or 80


def bypassed(host: str, no_proxy: str) -> bool:
    """NO_PROXY as curl reads it: `*`, or hosts and domains (`example.com` and `.example.com`
    both cover its subdomains), separated by commas."""
    host = host.lower().rstrip(".")
    for entry in no_proxy.replace(" ", "").lower().split(","):
        entry = entry.rstrip(".")
        if entry == "*":
            return True
        domain = entry.lstrip(".")
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
