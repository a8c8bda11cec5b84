"""The deployments pages: the list (filtered by name, paged), one deployment with its
schedules, pause/resume, recent runs and the Run form (custom parameters, or a quick run with
the defaults)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from flowplan.domain.schedules import describe
from flowplan.server import ui_data, ui_forms
from flowplan.server.params import check_job_variables
from flowplan.server.router import ApiError
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
    Safe,
    button_form,
    csrf_field,
    join,
    pager,
    render,
    table,
    when,
)
from flowplan.server.ui_runs import run_rows

if TYPE_CHECKING:
    from flowplan.backends.local import LocalBackend
    from flowplan.domain.objects import Deployment

PAGE = 50


def _schedule_text(deployment: Deployment) -> str:
    if not deployment.schedules:
        return "-"
    return ", ".join(describe(s.schedule) for s in deployment.schedules if s.active) or "all off"


@UI.route("GET", "/deployments")
def deployments(request: UiRequest) -> Answer:
    backend = request.backend
    wanted = request.query.get("q", "").strip()
    tag, pool = request.query.get("tag", "").strip(), request.query.get("pool", "")
    offset = offset_of(request)
    ids = ui_data.deployment_page(backend, wanted, offset, PAGE, tag=tag, pool=pool)
    pools = join(
        render('<option value="{v}"{sel}>{label}</option>', v=name, label=name or "Any pool",
               sel=Safe(" selected") if name == pool else Safe(""))
        for name in ["", *(p.name for p in backend.read_work_pools())]
    )  # fmt: skip
    chosen = backend.read_deployments(ids=ids) if ids else []
    nexts = ui_data.next_runs(backend, ids)
    rows = [
        render(
            '<tr><td><a href="/deployments/{id}">{name}</a></td><td>{flow}</td><td>{pool}</td>'
            "<td>{schedule}</td><td>{paused}</td><td>{next}</td></tr>",
            id=d.id,
            name=d.name,
            flow=d.flow_name,
            pool=d.work_pool_name or "-",
            schedule=_schedule_text(d),
            paused="paused" if d.paused else "active",
            next=when(nexts.get(d.id)),
        )
        for d in chosen
    ]
    body = render(
        '<form method="get" class="filter" role="search"><label for="q">Name contains</label>'
        '<input id="q" name="q" value="{q}"><label for="tag">Tag</label>'
        '<input id="tag" name="tag" value="{tag}" size="10"><label for="pool">Pool</label>'
        '<select id="pool" name="pool">{pools}</select><button type="submit">Filter</button>'
        "</form>{table}{pager}",
        q=wanted, tag=tag, pools=pools,
        table=table(("Deployment", "Flow", "Pool", "Schedule", "Status", "Next run"), rows,
                    "No deployment matches." if wanted or tag or pool
                    else "No deployments yet: flowplan apply creates them from prefect.yaml."),
        pager=pager("/deployments", offset, PAGE, len(ids),
                    urlencode({"q": wanted, "tag": tag, "pool": pool})),
    )  # fmt: skip
    return html_page("Deployments", body, request, "/deployments")


def _one(backend: LocalBackend, deployment_id: str) -> Deployment | None:
    found = backend.read_deployments(ids=[deployment_id])
    return found[0] if found else None


def _detail(request: UiRequest, d: Deployment, submitted: dict[str, str],
            errors: dict[str, str]) -> Answer:  # fmt: skip
    backend = request.backend
    action = "resume" if d.paused else "pause"
    schedules = [
        render("<tr><td>{what}</td><td>{slug}</td><td>{active}</td><td>{toggle}</td></tr>",
               what=describe(s.schedule), slug=s.slug, active="on" if s.active else "off",
               toggle=button_form(f"/deployments/{d.id}/schedules/{s.id}/"
                                  f"{'off' if s.active else 'on'}",
                                  "Turn off" if s.active else "Turn on", request.csrf))
        for s in d.schedules
    ]  # fmt: skip
    runs = backend.page_flow_runs(deployment_ids=[d.id], limit=20)
    general = errors.get("parameters")
    body = render(
        '<section class="card"><dl>'
        "<dt>Flow</dt><dd>{flow}</dd><dt>Status</dt><dd>{status} {toggle}</dd>"
        "<dt>Work pool</dt><dd>{pool}</dd><dt>Queue</dt><dd>{queue}</dd>"
        "<dt>Entrypoint</dt><dd><code>{entry}</code></dd><dt>Tags</dt><dd>{tags}</dd>"
        "<dt>Description</dt><dd>{desc}</dd></dl></section>"
        "<h2>Schedules</h2>{schedules}"
        '<h2 id="run">Run</h2><div class="actions">{quick}</div>'
        '<form method="post" action="/deployments/{id}/run" class="run-form" novalidate>'
        "{csrf}{general}{fields}"
        '<button type="submit" class="primary">Run with these parameters</button></form>'
        "<h2>Recent runs</h2>{runs}",
        flow=d.flow_name, status="paused" if d.paused else "active", id=d.id,
        toggle=button_form(f"/deployments/{d.id}/{action}", action.capitalize(), request.csrf),
        pool=d.work_pool_name or "-", queue=d.work_queue_name or "-", entry=d.entrypoint or "-",
        tags=", ".join(d.tags) or "-", desc=d.description or "-",
        schedules=table(("Schedule", "Slug", "Active", ""), schedules, "No schedules."),
        quick=button_form(f"/deployments/{d.id}/quick-run", "Quick run (defaults)", request.csrf),
        csrf=csrf_field(request.csrf),
        general=render('<p class="error" role="alert">{e}</p>', e=general) if general
        else Safe(""),
        fields=ui_forms.render_form(d.parameter_openapi_schema, d.parameters, submitted, errors),
        runs=table(("Run", "Deployment", "State", "Start", "Duration"), run_rows(runs),
                   "No runs yet."),
    )  # fmt: skip
    return html_page(d.full_name, body, request, "/deployments", 422 if errors else 200)


@UI.route("GET", f"/deployments/(?P<id>{UUID})")
def deployment(request: UiRequest) -> Answer:
    found = _one(request.backend, request.params["id"])
    if found is None:
        return not_found(request, "This deployment does not exist (any more).")
    return _detail(request, found, {}, {})


@UI.route("POST", f"/deployments/(?P<id>{UUID})/(?P<action>pause|resume)")
def pause(request: UiRequest) -> Answer:
    found = _one(request.backend, request.params["id"])
    if found is None:
        return not_found(request, "This deployment does not exist (any more).")
    request.backend.update_deployment(found.id, {"paused": request.params["action"] == "pause"})
    return redirect(f"/deployments/{found.id}")


@UI.route("POST", f"/deployments/(?P<id>{UUID})/(?P<kind>run|quick-run)")
def run(request: UiRequest) -> Answer:
    found = _one(request.backend, request.params["id"])
    if found is None:
        return not_found(request, "This deployment does not exist (any more).")
    schema = found.parameter_openapi_schema or {}
    form = {} if request.params["kind"] == "quick-run" else request.form
    values, errors = ui_forms.read_form(schema, found.parameters, form,
                                        check=found.enforce_parameter_schema)  # fmt: skip
    if not errors and found.work_pool_name and found.job_variables:
        try:
            template = request.backend.read_work_pool(found.work_pool_name).base_job_template
            check_job_variables(found, {}, template)
        except ApiError as exc:
            errors = {"parameters": str(exc.detail)}
    if errors:
        submitted = {key[len(ui_forms.PREFIX):]: value for key, value in request.form.items()
                     if key.startswith(ui_forms.PREFIX)}  # fmt: skip
        return _detail(request, found, submitted, errors)
    created = request.backend.create_flow_run(
        found.id, parameters=values, parameters_checked=True
    )  # read_form checked them
    return redirect(f"/runs/{quote(created.id)}")


@UI.route("POST", f"/deployments/(?P<id>{UUID})/schedules/(?P<sid>{UUID})/(?P<to>on|off)")
def toggle_schedule(request: UiRequest) -> Answer:
    found = _one(request.backend, request.params["id"])
    if found is None or request.params["sid"] not in {s.id for s in found.schedules}:
        return not_found(request, "This schedule does not exist (any more).")
    active = request.params["to"] == "on"
    request.backend.update_deployment_schedule(found.id, request.params["sid"], {"active": active})
    return redirect(f"/deployments/{found.id}")
