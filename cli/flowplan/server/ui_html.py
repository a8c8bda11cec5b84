"""The web UI's HTML: one template function that escapes every value it is given (`Safe`
values, already HTML, pass through), the page layout, and small helpers for times and states.
Pure: no store, no request."""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from flowplan.domain.clock import utcnow

FINAL = {"COMPLETED", "FAILED", "CANCELLED", "CRASHED"}
NAV = (("/", "Dashboard"), ("/deployments", "Deployments"), ("/runs", "Flow runs"),
       ("/pools", "Work pools"), ("/plan", "Plan"))  # fmt: skip


class Safe(str):
    """Text that is already HTML (built by `render`, or a constant)."""


def esc(value: Any) -> Safe:
    if isinstance(value, Safe):
        return value
    return Safe(html.escape("" if value is None else str(value), quote=True))


def render(template: str, **values: Any) -> Safe:
    """`template` with `{name}` replaced by each value, escaped unless it is `Safe`."""
    return Safe(template.format(**{key: esc(value) for key, value in values.items()}))


def join(parts: Iterable[Safe]) -> Safe:
    return Safe("".join(esc(part) for part in parts))


def page(title: str, body: Safe, *, current: str = "") -> Safe:
    links = join(
        render(
            '<a href="{href}"{here}>{label}</a>',
            href=href,
            label=label,
            here=Safe(' aria-current="page"') if href == current else Safe(""),
        )
        for href, label in NAV
    )
    return render(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>{title} - flowplan</title>"
        '<link rel="stylesheet" href="/static/ui.css"></head><body>'
        '<header><a class="brand" href="/">flowplan</a><nav>{links}</nav></header>'
        '<main><h1>{title}</h1>{body}</main><script src="/static/ui.js"></script></body></html>',
        title=title, body=body, links=links,
    )  # fmt: skip


def csrf_field(token: str) -> Safe:
    return render('<input type="hidden" name="csrf" value="{token}">', token=token)


def button_form(action: str, label: str, token: str, css: str = "") -> Safe:
    return render(
        '<form method="post" action="{action}" class="inline">{field}'
        '<button type="submit" class="{css}">{label}</button></form>',
        action=action, field=csrf_field(token), label=label, css=css,
    )  # fmt: skip


def state_badge(state: str, name: str | None = None) -> Safe:
    return render('<span class="state s-{kind}">{name}</span>', kind=state.lower(),
                  name=name or state.capitalize())  # fmt: skip


def when(moment: datetime | None) -> Safe:
    """An absolute UTC time, with how long ago or until as its title."""
    if moment is None:
        return Safe("-")
    return render('<time datetime="{iso}" title="{rel}">{text}</time>',
                  iso=moment.isoformat(), rel=relative(moment),
                  text=moment.strftime("%Y-%m-%d %H:%M:%S"))  # fmt: skip


def relative(moment: datetime, now: datetime | None = None) -> str:
    delta = (now or utcnow()) - moment
    ahead = delta < timedelta(0)
    text = duration(abs(delta).total_seconds())
    return f"in {text}" if ahead else f"{text} ago"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m" if hours < 48 else f"{hours // 24}d {hours % 24}h"


def table(headers: Iterable[str], rows: Iterable[Safe], empty: str) -> Safe:
    head = join(render('<th scope="col">{h}</th>', h=h) for h in headers)
    body = join(rows)
    if not body:
        return render('<p class="empty">{empty}</p>', empty=empty)
    return render('<div class="scroll"><table><thead><tr>{head}</tr></thead>'
                  "<tbody>{body}</tbody></table></div>", head=head, body=body)  # fmt: skip


def pager(base: str, offset: int, size: int, shown: int, query: str = "") -> Safe:
    extra = f"&{query}" if query else ""
    parts = []
    if offset > 0:
        parts.append(render('<a href="{href}">Newer / previous</a>',
                            href=f"{base}?offset={max(0, offset - size)}{extra}"))  # fmt: skip
    if shown >= size:
        parts.append(render('<a href="{href}">Next page</a>',
                            href=f"{base}?offset={offset + size}{extra}"))  # fmt: skip
    return render('<nav class="pager">{parts}</nav>', parts=join(parts))
