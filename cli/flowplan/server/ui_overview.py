"""The dashboard (runs by state over the last day, late and failed runs first, workers) and the
work pools page (pools and queues with their status, concurrency, workers' heartbeats)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote, unquote

from flowplan.domain.clock import utcnow
from flowplan.server import ui_data
from flowplan.server.ui_core import UI, Answer, UiRequest, html_page, not_found, redirect
from flowplan.server.ui_html import Safe, button_form, join, render, state_badge, table, when
from flowplan.server.ui_runs import recent_runs, run_rows

ORDER = ("LATE", "FAILED", "CRASHED", "RUNNING", "PENDING", "SCHEDULED", "CANCELLING",
         "CANCELLED", "COMPLETED", "PAUSED")  # fmt: skip


def _status(status: str) -> Safe:
    return render('<span class="status st-{kind}">{status}</span>', kind=status.lower(),
                  status=status)  # fmt: skip


def _workers(request: UiRequest) -> Safe:
    rows = [
        render(
            "<tr><td>{pool}</td><td>{name}</td><td>{beat}</td><td>{online}</td></tr>",
            pool=w.pool,
            name=w.name,
            beat=when(w.last_heartbeat),
            online=_status("ONLINE" if w.online else "OFFLINE"),
        )
        for w in ui_data.workers(request.backend)
    ]
    return table(("Pool", "Worker", "Last heartbeat", "Status"), rows,
                 "No worker has started yet: flowplan worker start --pool POOL")  # fmt: skip


@UI.route("GET", "/")
def dashboard(request: UiRequest) -> Answer:
    backend = request.backend
    counts = ui_data.runs_by_state(backend, utcnow() - timedelta(days=1))
    tiles = join(
        render(
            '<a class="tile" href="/runs?state={kind}">{badge}<strong>{n}</strong></a>',
            kind=kind,
            badge=state_badge(kind),
            n=counts.get(kind, 0),
        )
        for kind in ORDER
        if counts.get(kind) or kind in ("FAILED", "COMPLETED", "RUNNING")
    )
    late = ui_data.late_run_ids(backend, 10)
    attention = (backend.page_flow_runs(ids=late, order="expected_start_time ASC", limit=10)
                 if late else [])  # fmt: skip
    attention += recent_runs(request, ["FAILED", "CRASHED"], None, 10)
    recent = recent_runs(request, [], None, 10)
    body = render(
        '<h2>Runs in the last day</h2><div class="tiles">{tiles}</div>'
        "<h2>Late and failed</h2>{attention}<h2>Recent runs</h2>{recent}"
        "<h2>Workers</h2>{workers}",
        tiles=tiles,
        attention=table(("Run", "Deployment", "State", "Start", "Duration"), run_rows(attention),
                        "No late or failed runs."),
        recent=table(("Run", "Deployment", "State", "Start", "Duration"), run_rows(recent),
                     "No runs yet."),
        workers=_workers(request),
    )  # fmt: skip
    return html_page("Dashboard", body, request, "/")


@UI.route("GET", "/pools")
def pools(request: UiRequest) -> Answer:
    backend = request.backend
    sections = []
    for pool in backend.read_work_pools():
        queues = [
            render(
                "<tr><td>{name}</td><td>{status}</td><td>{priority}</td><td>{limit}</td>"
                "<td>{polled}</td><td>{toggle}</td></tr>",
                name=q.name,
                status=_status(q.status),
                priority=q.priority,
                limit=q.concurrency_limit or "-",
                polled=when(q.last_polled),
                toggle=_toggle(
                    f"/pools/{quote(pool.name)}/queues/{quote(q.name)}", q.is_paused, request.csrf
                ),
            )
            for q in backend.read_work_queues(pool.name)
        ]
        sections.append(render(
            '<section class="card pool"><h2>{name} {status}</h2>{toggle}'
            "<dl><dt>Type</dt><dd>{type}</dd>"
            "<dt>Concurrency</dt><dd>{limit}</dd><dt>Last heartbeat</dt><dd>{beat}</dd></dl>"
            "{queues}</section>",
            name=pool.name, status=_status(pool.status), type=pool.type,
            toggle=_toggle(f"/pools/{quote(pool.name)}", pool.is_paused, request.csrf),
            limit=pool.concurrency_limit or "unlimited", beat=when(pool.last_heartbeat),
            queues=table(("Queue", "Status", "Priority", "Concurrency", "Last polled", ""), queues,
                         "No queues."),
        ))  # fmt: skip
    body = render("{pools}<h2>Workers</h2>{workers}",
                  pools=join(sections) or render('<p class="empty">No work pools yet.</p>'),
                  workers=_workers(request))  # fmt: skip
    return html_page("Work pools", body, request, "/pools")


def _toggle(base: str, paused: bool, csrf: str) -> Safe:
    return button_form(f"{base}/{'resume' if paused else 'pause'}",
                       "Resume" if paused else "Pause", csrf)  # fmt: skip


@UI.route("POST", "/pools/(?P<pool>[^/]+)(?:/queues/(?P<queue>[^/]+))?/(?P<to>pause|resume)")
def pause(request: UiRequest) -> Answer:
    pool, queue = unquote(request.params["pool"]), request.params.get("queue")
    changes = {"is_paused": request.params["to"] == "pause"}
    try:
        if queue is None:
            request.backend.update_work_pool(pool, changes)
        else:
            request.backend.update_work_queue(pool, unquote(queue), changes)
    except LookupError:
        return not_found(request, "This work pool or queue does not exist (any more).")
    return redirect("/pools")
