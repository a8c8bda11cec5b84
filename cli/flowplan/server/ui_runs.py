"""The flow runs pages: the list (newest first, paged, by state), one run (state history,
parameters, logs that follow live: the page's script polls `/runs/{id}/logs.json` until a final
state), and cancel."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from flowplan.domain.objects import StateType
from flowplan.server import ui_data
from flowplan.server.ui_core import (
    UI,
    UUID,
    Answer,
    UiRequest,
    html_page,
    not_found,
    offset_of,
    redirect,
)
from flowplan.server.ui_html import (
    FINAL,
    Safe,
    button_form,
    duration,
    join,
    render,
    state_badge,
    table,
    when,
)

if TYPE_CHECKING:
    from flowplan.domain.objects import FlowRun

PAGE = 50
LOG_PAGE = 1000  # log lines per poll


def _duration(run: FlowRun) -> str:
    if run.start_time is None:
        return "-"
    from flowplan.domain.clock import utcnow

    end = run.end_time or utcnow()
    return duration((end - run.start_time).total_seconds())


def run_rows(runs: Iterable[FlowRun]) -> list[Safe]:
    return [
        render('<tr><td><a href="/runs/{id}">{name}</a></td><td>{dep}</td><td>{state}</td>'
               "<td>{start}</td><td>{took}</td></tr>",
               id=run.id, name=run.name, state=state_badge(run.state.type.value, run.state.name),
               dep=f"{run.flow_name}/{run.deployment_name}" if run.deployment_name
               else run.flow_name,
               start=when(run.start_time or run.expected_start_time), took=_duration(run))
        for run in runs
    ]  # fmt: skip


def recent_runs(request: UiRequest, kinds: list[str], before: tuple[str, str] | None,
                size: int) -> list[FlowRun]:  # fmt: skip
    """The runs expected to start last (newest first), before the cursor."""
    ids = ui_data.run_page(request.backend, kinds, before, size)
    if not ids:
        return []
    return request.backend.page_flow_runs(ids=ids, order="expected_start_time DESC", limit=size)


@UI.route("GET", "/runs")
def runs(request: UiRequest) -> Answer:
    state = request.query.get("state", "").upper()
    kinds = [state] if state in StateType.__members__ else []
    cursor = request.query.get("before", "")
    time_text, _, run_id = cursor.partition("|")
    before = (time_text, run_id) if time_text and run_id else None
    page = recent_runs(request, kinds, before, PAGE)
    links = [render('<a href="/runs{q}">Newest</a>', q=f"?state={state}" if kinds else "")
             ] if before else []  # fmt: skip
    if len(page) == PAGE:
        last = page[-1]
        query = {"before": f"{last.expected_start_time.isoformat()}|{last.id}"}
        if kinds:
            query["state"] = state
        links.append(render('<a href="/runs?{q}">Older</a>', q=urlencode(query)))
    choices = join(
        render('<option value="{v}"{sel}>{label}</option>', v=kind, label=kind.capitalize() or
               "Any state", sel=Safe(" selected") if kind == state else Safe(""))
        for kind in ["", *StateType.__members__]
    )  # fmt: skip
    body = render(
        '<form method="get" class="filter"><label for="state">State</label>'
        '<select id="state" name="state">{choices}</select><button type="submit">Show</button>'
        '</form>{table}<nav class="pager">{links}</nav>',
        choices=choices,
        table=table(("Run", "Deployment", "State", "Start", "Duration"), run_rows(page),
                    "No runs."),
        links=join(links),
    )  # fmt: skip
    return html_page("Flow runs", body, request, "/runs")


@UI.route("GET", f"/runs/(?P<id>{UUID})")
def run(request: UiRequest) -> Answer:
    try:
        found = request.backend.read_flow_run(request.params["id"])
    except LookupError:
        return not_found(request, "This flow run does not exist (any more).")
    history = [
        render("<li>{badge} {at} <span class=\"msg\">{msg}</span></li>",
               badge=state_badge(kind, name), at=when(at), msg=message)
        for kind, name, at, message in ui_data.state_history(request.backend, found.id)
    ]  # fmt: skip
    final = found.state.type.value in FINAL
    if not final:
        cancel = button_form(f"/runs/{found.id}/cancel", "Cancel", request.csrf, "danger")
    elif found.deployment_id:
        cancel = button_form(f"/runs/{found.id}/again", "Run again (same parameters)",
                             request.csrf)  # fmt: skip
    else:
        cancel = Safe("")
    deployment = (render('<a href="/deployments/{id}">{name}</a>', id=found.deployment_id,
                         name=f"{found.flow_name}/{found.deployment_name}")
                  if found.deployment_id else Safe("-"))  # fmt: skip
    body = render(
        '<section class="card"><dl><dt>State</dt><dd id="run-state">{state}</dd>'
        "<dt>Deployment</dt><dd>{dep}</dd><dt>Work pool</dt><dd>{pool}</dd>"
        "<dt>Expected start</dt><dd>{expected}</dd><dt>Started</dt><dd>{start}</dd>"
        "<dt>Duration</dt><dd>{took}</dd></dl>{cancel}</section>"
        "<h2>Parameters</h2><pre class=\"params\">{params}</pre>"
        "<h2>State history</h2><ol class=\"history\">{history}</ol>"
        '<h2>Logs</h2><pre id="logs" class="logs" data-run="{id}" data-final="{final}" '
        'aria-live="polite"></pre>',
        state=state_badge(found.state.type.value, found.state.name), id=found.id,
        dep=deployment, pool=found.work_pool_name or "-", expected=when(found.expected_start_time),
        start=when(found.start_time), took=_duration(found), cancel=cancel,
        params=json.dumps(found.parameters, indent=2, sort_keys=True), history=join(history),
        final="1" if final else "0",
    )  # fmt: skip
    return html_page(found.name, body, request, "/runs")


@UI.route("GET", f"/runs/(?P<id>{UUID})/logs.json")
def logs(request: UiRequest) -> Answer:
    """`{"state", "state_name", "final", "lines": [[time, level, message]], "next"}`: the log
    lines from `offset` (at most LOG_PAGE), and the run's state read before them (so a final
    state means every line is already there or in this answer)."""
    try:
        found = request.backend.read_flow_run(request.params["id"])
        offset = offset_of(request)
        lines = request.backend.read_logs(found.id, offset=offset)[:LOG_PAGE]
    except LookupError:
        return Answer(404, b'{"detail":"Flow run not found"}', "application/json")
    payload = {
        "state": found.state.type.value, "state_name": found.state.name,
        "final": found.state.type.value in FINAL and len(lines) < LOG_PAGE,
        "lines": [[line.timestamp.strftime("%H:%M:%S"), _level(line.level), line.message]
                  for line in lines],
        "next": offset + len(lines),
    }  # fmt: skip
    return Answer(200, json.dumps(payload).encode(), "application/json")


def _level(level: int) -> str:
    import logging

    return logging.getLevelName(level)


@UI.route("POST", f"/runs/(?P<id>{UUID})/cancel")
def cancel(request: UiRequest) -> Answer:
    try:
        found = request.backend.read_flow_run(request.params["id"])
    except LookupError:
        return not_found(request, "This flow run does not exist (any more).")
    if found.state.type.value not in FINAL:
        request.backend.cancel_flow_run(found.id)
    return redirect(f"/runs/{found.id}")


@UI.route("POST", f"/runs/(?P<id>{UUID})/again")
def again(request: UiRequest) -> Answer:
    """A new run of the same deployment with this run's parameters (this run stays as it
    ended: its history is kept)."""
    try:
        found = request.backend.read_flow_run(request.params["id"])
    except LookupError:
        return not_found(request, "This flow run does not exist (any more).")
    if found.deployment_id is None:
        return not_found(request, "This run has no deployment to run again.")
    try:
        created = request.backend.create_flow_run(found.deployment_id, parameters=found.parameters)
    except LookupError:
        return not_found(request, "Its deployment does not exist any more.")
    return redirect(f"/runs/{created.id}")
