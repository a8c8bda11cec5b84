"""The project plan page: what `flowplan apply` would change for the project the server was
started with (`--project`), drift marked, computed when the page is asked for (Refresh asks
again). Read-only: apply stays a CLI/CI action. The plan itself is made by the caller's
`planner` (the server command wires the plan core in), so this layer needs no plan code."""

from __future__ import annotations

from flowplan.errors import FlowplanError
from flowplan.server.ui_core import UI, Answer, UiRequest, html_page
from flowplan.server.ui_html import Safe, join, render

_CLASSES = {"+": "add", "-": "del", "~": "chg", "=": "adopt"}


def _line(text: str) -> Safe:
    sign = text.strip()[:1]
    drift = "changed outside flowplan" in text
    css = _CLASSES.get(sign, "") + (" drift" if drift else "")
    return render('<span class="{css}">{text}</span>\n', css=css.strip(), text=text)


@UI.route("GET", "/plan")
def plan(request: UiRequest) -> Answer:
    if request.planner is None:
        body = render(
            '<p class="empty">No project: start the server with <code>flowplan server start'
            " --project DIR</code> (or from a directory with a prefect.yaml) to see what"
            " <code>flowplan apply</code> would change.</p>"
        )
        return html_page("Plan", body, request, "/plan")
    project, planner = request.planner
    try:
        lines = planner()
        shown = render('<pre class="plan" id="plan">{lines}</pre>', lines=join(map(_line, lines)))
    except FlowplanError as exc:
        shown = render('<p class="error" role="alert">{e}</p>', e=str(exc))
    body = render(
        '<p>Project <code>{project}</code>: what <code>flowplan apply</code> would change on'
        " this store. Read-only; apply from the CLI or CI.</p>"
        '<form method="get" action="/plan" class="filter"><button type="submit">Refresh'
        "</button></form>{shown}",
        project=project, shown=shown,
    )  # fmt: skip
    return html_page("Plan", body, request, "/plan")
