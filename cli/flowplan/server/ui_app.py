"""The web UI's door: every path outside `/api`. Who may see the pages, and which POSTs are
actions the user meant.

- Token: a bind that needs one (not loopback) asks for it once on a login form, then keeps it
  in a cookie (HttpOnly: no script reads it; SameSite=Strict: no other site's page sends it).
  A bearer header is taken too. The cookie opens the pages only, never `/api` (whose callers
  send the header), so a page of another site can never drive the API with it.
- CSRF: every POST carries a hidden `csrf` field, an HMAC of this server process's random key
  and the session's token, compared in constant time; a POST whose `Origin` is another site is
  refused too. The field is needed on loopback binds as well, where no cookie exists and
  SameSite cannot help: any page the user visits can post a form to 127.0.0.1.
- DNS rebinding: on a loopback bind the `Host` must be a loopback name, so a page of another
  site, reached through a name that resolves to 127.0.0.1, gets no page (and no CSRF field).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from flowplan.server import auth
from flowplan.server.ui_core import UI, Answer, Planner, UiRequest, html_page, redirect
from flowplan.server.ui_html import render

if TYPE_CHECKING:
    from flowplan.backends.local import LocalBackend

COOKIE = "flowplan_token"
STATIC = Path(__file__).parent / "static"
_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".svg": "image/svg+xml"}  # fmt: skip
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]"}
HEADERS = (
    ("content-security-policy", "default-src 'self'; img-src 'self' data:; "
     "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    ("x-content-type-options", "nosniff"), ("referrer-policy", "same-origin"),
    ("cache-control", "no-store"),
)  # fmt: skip


@dataclass(frozen=True)
class UiServer:
    backend: LocalBackend
    token: str | None
    key: bytes  # this process's CSRF key
    loopback: bool
    planner: Planner | None = None

    def answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        from flowplan.server import ui_deployments, ui_overview, ui_plan, ui_runs

        del ui_deployments, ui_overview, ui_plan, ui_runs  # imported for their routes
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        if self.loopback and _host_name(headers.get("host", "")) not in _LOOPBACK_HOSTS:
            return _plain(421, "this server answers only to 127.0.0.1, localhost or [::1]")
        if path.startswith("/static/") and method in ("GET", "HEAD"):
            return _static(path[len("/static/") :])
        given = self._given_token(headers)
        if self.token is not None and not given:
            if path == "/login":
                return self._login(method, dict(parse_qsl(parts.query)), _form(body), headers)
            if method in ("GET", "HEAD"):
                return redirect("/login?" + _query({"next": target}))
            return _plain(401, "log in first: open /login")
        csrf = self._csrf(given)
        form = _form(body) if method == "POST" else {}
        if method == "POST":
            if _cross_site(headers):
                return _plain(403, "this form was posted from another site: refused")
            if not hmac.compare_digest(form.get("csrf", "").encode(), csrf.encode()):
                return _plain(403, "the form's CSRF field is missing or stale: reload the page")
        found = UI.match("GET" if method == "HEAD" else method, path)
        query = dict(parse_qsl(parts.query))
        request = UiRequest(self.backend, {}, query, form, csrf, self.planner)
        if found is None:
            return html_page("Not found", render('<p class="empty">No page at {path}.</p>',
                                                 path=path), request, status=404)  # fmt: skip
        handler, params = found
        return handler(UiRequest(self.backend, params, query, form, csrf, self.planner))

    def _given_token(self, headers: dict[str, str]) -> str | None:
        """The right token if the request carries it (cookie or bearer header), else None."""
        if self.token is None:
            return ""
        if auth.authorized(headers.get("authorization"), self.token):
            return self.token
        try:
            cookie = SimpleCookie(headers.get("cookie", ""))
        except CookieError:
            return None
        value = cookie[COOKIE].value if COOKIE in cookie else ""
        return self.token if hmac.compare_digest(value.encode(), self.token.encode()) else None

    def _csrf(self, session: str | None) -> str:
        return hmac.new(self.key, (session or "").encode(), hashlib.sha256).hexdigest()

    def _login(self, method: str, query: dict[str, str], form: dict[str, str],
               headers: dict[str, str]) -> Answer:  # fmt: skip
        assert self.token is not None
        goal = query.get("next") or form.get("next") or "/"
        goal = goal if goal.startswith("/") and not goal.startswith("//") else "/"
        error = ""
        if method == "POST":
            if _cross_site(headers):
                return _plain(403, "this form was posted from another site: refused")
            if hmac.compare_digest(form.get("token", "").strip().encode(), self.token.encode()):
                cookie = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
                return Answer(303, b"", headers=(("location", goal), ("set-cookie", cookie)))
            error = "That is not this server's token."
        body = render(
            '<form method="post" action="/login" class="login">'
            '<input type="hidden" name="next" value="{goal}">'
            '<div class="field{cls}"><label for="token">Server token</label>'
            '<input id="token" name="token" type="password" autocomplete="current-password"'
            ' required autofocus>{error}<p class="desc">The token printed by <code>flowplan'
            " server start</code> (also in <code>$FLOWPLAN_HOME/server-token</code>).</p></div>"
            '<button type="submit" class="primary">Log in</button></form>',
            goal=goal, cls=" invalid" if error else "",
            error=render('<p class="error" role="alert">{e}</p>', e=error) if error else "",
        )  # fmt: skip
        request = UiRequest(self.backend, {}, {}, {}, "")
        return html_page("Log in", body, request, status=401 if error else 200)


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _cross_site(headers: dict[str, str]) -> bool:
    origin = headers.get("origin")
    if not origin or origin == "null":
        return origin == "null"
    return urlsplit(origin).netloc != headers.get("host", "")


def _form(body: bytes) -> dict[str, str]:
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        return {}


def _query(values: dict[str, str]) -> str:
    from urllib.parse import urlencode

    return urlencode(values)


def _plain(status: int, text: str) -> Answer:
    return Answer(status, text.encode() + b"\n", "text/plain; charset=utf-8")


def _static(name: str) -> Answer:
    path = STATIC / name
    if "/" in name or path.suffix not in _TYPES or not path.is_file():
        return _plain(404, "no such file")
    with open(path, "rb") as shipped:  # our own file, shipped in the package
        return Answer(200, shipped.read(), _TYPES[path.suffix])
