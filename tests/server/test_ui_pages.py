"""The web UI's pages in-process, without a browser: `UiServer.answer` over a real store.
Escaping of every value, the Run form built from the schema and its inline errors, CSRF, the
login cookie, the Host check. The browser tests (test_ui_browser.py) drive the same pages."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlencode

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.domain.clock import utcnow
from flowplan.domain.objects import Deployment, LogLine, StateType
from flowplan.server.ui_app import UiServer
from flowplan.server.ui_core import Answer
from tests.runtime.helpers import deployment, store

XSS = "<script>alert(1)</script>"
SCHEMA = {
    "type": "object", "required": ["n"],
    "properties": {
        "n": {"type": "integer", "title": "n", "description": f"how many {XSS}", "position": 0},
        "color": {"$ref": "#/definitions/Color", "default": "red", "position": 1},
        "ratio": {"type": "number", "position": 2},
        "opts": {"type": "object", "position": 3},
        "flag": {"type": "boolean", "default": False, "position": 4},
        "who": {"type": "string", "position": 5},
    },
    "definitions": {"Color": {"enum": ["red", "blue"], "type": "string"}},
}  # fmt: skip
LOCAL = {"host": "127.0.0.1:4200"}
TOKEN = "a-long-enough-server-token"


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    made = store(tmp_path / "home")
    yield made  # type: ignore[misc]
    made.close()


@pytest.fixture
def made(backend: LocalBackend, tmp_path: Path) -> Deployment:
    return deployment(backend, tmp_path, name='say "hi" now', description=XSS,
                      parameter_openapi_schema=SCHEMA, enforce_parameter_schema=True,
                      tags=(XSS,))  # fmt: skip


def ui(backend: LocalBackend, token: str | None = None) -> UiServer:
    return UiServer(backend, token, b"k" * 32, token is None)


def text(answer: Answer) -> str:
    return answer.body.decode()


def csrf_of(answer: Answer) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', text(answer))
    assert found, text(answer)
    return found.group(1)


def post(server: UiServer, path: str, form: dict[str, str], headers: dict[str, str] = LOCAL,
         ) -> Answer:  # fmt: skip
    return server.answer("POST", path, headers, urlencode(form).encode())


def test_every_page_escapes_what_the_store_holds(backend: LocalBackend, made: Deployment) -> None:
    run = backend.create_flow_run(made.id, parameters={"n": 1, "who": XSS})
    backend.write_logs([LogLine(run.id, utcnow(), 20, f"hello {XSS}")])
    backend.set_flow_run_state(run.id, StateType.FAILED, message=f"Traceback {XSS}")
    server = ui(backend)
    for path in ("/", "/deployments", f"/deployments/{made.id}", "/runs", f"/runs/{run.id}",
                 "/pools", "/deployments?q=" + XSS):  # fmt: skip
        page = text(server.answer("GET", path, LOCAL, b""))
        assert "<script>alert" not in page, path
        assert page.count("<script") == 1, path  # our own script tag only
    detail = text(server.answer("GET", f"/deployments/{made.id}", LOCAL, b""))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail
    assert "say &quot;hi&quot; now" in detail  # a quote cannot close an attribute
    logs = json.loads(server.answer("GET", f"/runs/{run.id}/logs.json", LOCAL, b"").body)
    # raw text in JSON: the page's script adds it with textContent, never as HTML
    assert logs["lines"][0][2] == f"hello {XSS}"
    assert (logs["state"], logs["final"], logs["next"]) == ("FAILED", True, 1)


def test_the_run_form_has_one_labelled_field_per_parameter(
    backend: LocalBackend, made: Deployment
) -> None:
    page = text(ui(backend).answer("GET", f"/deployments/{made.id}", LOCAL, b""))
    for name in SCHEMA["properties"]:  # type: ignore[attr-defined]
        assert f'<label for="f-{name}">' in page and f'id="f-{name}" name="p.{name}"' in page
    assert re.search(r'<select id="f-color" name="p.color">.*"&quot;blue&quot;"', page)
    assert '<option value="&quot;red&quot;" selected>red</option>' in page  # the default
    assert '<textarea id="f-opts"' in page
    assert 'title="required">*</abbr>' in page.split('for="f-n"')[1].split("</label>")[0]


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"p.n": "three"}, "n", "expected a whole number, got &#x27;three&#x27;"),
        ({}, "n", "required: give a value"),
        ({"p.n": "1", "p.opts": "{nope"}, "opts", "not valid JSON"),
        ({"p.n": "1", "p.opts": "[1]"}, "opts", "expected"),
        ({"p.n": "1", "p.color": '"green"'}, "color", "must be"),
    ],
)
def test_a_bad_value_is_refused_at_its_field_and_nothing_is_run(
    backend: LocalBackend, made: Deployment, form: dict[str, str], field: str, message: str
) -> None:
    server = ui(backend)
    token = csrf_of(server.answer("GET", f"/deployments/{made.id}", LOCAL, b""))
    answer = post(server, f"/deployments/{made.id}/run", {"csrf": token, **form})
    assert answer.status == 422
    page = text(answer)
    error = re.search(rf'<p class="error" id="f-{field}-error" role="alert">([^<]*)</p>', page)
    assert error and message in error.group(1), page
    focused = f'id="f-{field}" name="p.{field}" aria-invalid="true" aria-describedby="f-{field}-error" autofocus'
    assert focused in page.replace(" required", "")  # the invalid field takes the focus
    assert page.count(" autofocus") == 1
    for key, value in form.items():  # what was typed is kept
        assert f"{value}".replace('"', "&quot;") in page or key == "p.color"
    assert backend.read_flow_runs() == []


def test_a_good_form_creates_a_run_with_typed_parameters(
    backend: LocalBackend, made: Deployment
) -> None:
    server = ui(backend)
    token = csrf_of(server.answer("GET", f"/deployments/{made.id}", LOCAL, b""))
    form = {"csrf": token, "p.n": "7", "p.color": '"blue"', "p.ratio": "0.5",
            "p.opts": '{"a": [1]}', "p.flag": "true", "p.who": XSS}  # fmt: skip
    answer = post(server, f"/deployments/{made.id}/run", form)
    assert answer.status == 303
    (run,) = backend.read_flow_runs()
    assert dict(answer.headers)["location"] == f"/runs/{run.id}"
    assert run.parameters == {"n": 7, "color": "blue", "ratio": 0.5, "opts": {"a": [1]},
                              "flag": True, "who": XSS}  # fmt: skip
    page = text(server.answer("GET", f"/runs/{run.id}", LOCAL, b""))
    assert "&quot;who&quot;: &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;" in page


def test_quick_run_uses_the_defaults_and_is_refused_when_a_required_one_has_none(
    backend: LocalBackend, tmp_path: Path, made: Deployment
) -> None:
    server = ui(backend)
    token = csrf_of(server.answer("GET", f"/deployments/{made.id}", LOCAL, b""))
    refused = post(server, f"/deployments/{made.id}/quick-run", {"csrf": token})
    assert refused.status == 422 and "required: give a value" in text(refused)
    easy = deployment(backend, tmp_path, name="easy", parameters={"n": 4},
                      parameter_openapi_schema=SCHEMA)  # fmt: skip
    assert post(server, f"/deployments/{easy.id}/quick-run", {"csrf": token}).status == 303
    (run,) = backend.read_flow_runs(deployment=easy.full_name)
    assert run.parameters == {"n": 4}  # the deployment's own values


def test_pause_resume_and_cancel(backend: LocalBackend, made: Deployment) -> None:
    server = ui(backend)
    token = csrf_of(server.answer("GET", f"/deployments/{made.id}", LOCAL, b""))
    assert post(server, f"/deployments/{made.id}/pause", {"csrf": token}).status == 303
    assert backend.read_deployments(ids=[made.id])[0].paused
    page = text(server.answer("GET", f"/deployments/{made.id}", LOCAL, b""))
    assert ">Resume</button>" in page
    assert post(server, f"/deployments/{made.id}/resume", {"csrf": token}).status == 303
    assert not backend.read_deployments(ids=[made.id])[0].paused
    run = backend.create_flow_run(made.id, parameters={"n": 1})
    assert post(server, f"/runs/{run.id}/cancel", {"csrf": token}).status == 303
    assert backend.read_flow_run(run.id).state.type is StateType.CANCELLED


def test_a_post_without_the_csrf_field_or_from_another_site_is_refused(
    backend: LocalBackend, made: Deployment
) -> None:
    server = ui(backend)
    token = csrf_of(server.answer("GET", f"/deployments/{made.id}", LOCAL, b""))
    path = f"/deployments/{made.id}/pause"
    assert post(server, path, {}).status == 403
    assert post(server, path, {"csrf": "0" * 64}).status == 403
    evil = {**LOCAL, "origin": "https://evil.example"}
    assert post(server, path, {"csrf": token}, evil).status == 403
    assert not backend.read_deployments(ids=[made.id])[0].paused
    same = {**LOCAL, "origin": "http://127.0.0.1:4200"}
    assert post(server, path, {"csrf": token}, same).status == 303


def test_a_loopback_server_answers_only_to_loopback_host_names(backend: LocalBackend) -> None:
    server = ui(backend)
    assert server.answer("GET", "/", {"host": "rebound.example:4200"}, b"").status == 421
    for host in ("localhost:4200", "[::1]:4200", "127.0.0.1"):
        assert server.answer("GET", "/", {"host": host}, b"").status == 200


def test_a_token_server_asks_for_the_token_once_and_keeps_it_in_a_strict_cookie(
    backend: LocalBackend, made: Deployment
) -> None:
    server = ui(backend, TOKEN)
    host = {"host": "10.0.0.5:4200"}
    first = server.answer("GET", f"/deployments/{made.id}", host, b"")
    location = dict(first.headers)["location"]
    assert first.status == 303 and location.startswith("/login?next=%2Fdeployments%2F")
    assert "csrf" not in text(server.answer("GET", location, host, b""))
    assert post(server, "/deployments/x/pause", {"csrf": "x"}, host).status == 401
    wrong = post(server, "/login", {"token": "guess-guess-guess", "next": "/"}, host)
    assert wrong.status == 401 and "not this server&#x27;s token" in text(wrong)
    assert post(server, "/login", {"token": TOKEN}, {**host, "origin": "http://evil"}).status == 403
    right = post(server, "/login", {"token": TOKEN, "next": "//evil.example/"}, host)
    headers = dict(right.headers)
    assert right.status == 303 and headers["location"] == "/"  # never off this site
    assert headers["set-cookie"] == f"flowplan_token={TOKEN}; HttpOnly; SameSite=Strict; Path=/"
    with_cookie = {**host, "cookie": f"flowplan_token={TOKEN}"}
    page = server.answer("GET", f"/deployments/{made.id}", with_cookie, b"")
    assert page.status == 200
    assert post(server, f"/deployments/{made.id}/pause", {"csrf": csrf_of(page)},
                with_cookie).status == 303  # fmt: skip
    stale = {**host, "cookie": "flowplan_token=not-it"}
    assert server.answer("GET", "/", stale, b"").status == 303


def test_static_files_are_ours_only(backend: LocalBackend) -> None:
    server = ui(backend)
    css = server.answer("GET", "/static/ui.css", LOCAL, b"")
    assert css.status == 200 and css.content_type.startswith("text/css")
    for path in ("/static/../ui_app.py", "/static/ui_app.py", "/static/%2e%2e/app.py"):
        assert server.answer("GET", path, LOCAL, b"").status == 404
    js = text(server.answer("GET", "/static/ui.js", LOCAL, b""))
    assert "innerHTML" not in js and "http" not in js.replace("https", "")  # no CDN, no HTML


def test_the_runs_list_pages_by_cursor_newest_first_and_filters_by_state(
    backend: LocalBackend, made: Deployment
) -> None:
    from datetime import timedelta

    now = utcnow()
    ids = [backend.create_flow_run(made.id, parameters={"n": 1},
                                   scheduled_time=now - timedelta(minutes=i)).id
           for i in range(120)]  # fmt: skip
    backend.set_flow_run_state(ids[7], StateType.FAILED)
    server = ui(backend)
    seen: list[str] = []
    path = "/runs"
    while path:
        page = text(server.answer("GET", path, LOCAL, b""))
        seen += re.findall(r'<a href="/runs/([0-9a-f-]{36})">', page)
        older = re.search(r'<a href="(/runs\?before=[^"]+)">Older</a>', page)
        path = older.group(1).replace("&amp;", "&") if older else ""
    assert seen == ids  # newest expected start first, each run once
    failed = text(server.answer("GET", "/runs?state=FAILED", LOCAL, b""))
    assert re.findall(r'<a href="/runs/([0-9a-f-]{36})">', failed) == [ids[7]]


def test_a_schedule_is_turned_off_and_on(backend: LocalBackend, tmp_path: Path) -> None:
    from datetime import timedelta

    from flowplan.domain.schedules import IntervalSchedule
    from flowplan.runtime import scheduler

    made = deployment(backend, tmp_path, name="timed",
                      schedules=(IntervalSchedule(timedelta(minutes=10)),))  # fmt: skip
    (schedule,) = made.schedules
    server = ui(backend)
    page = server.answer("GET", f"/deployments/{made.id}", LOCAL, b"")
    assert "every 600s" in text(page) and ">Turn off</button>" in text(page)
    base = f"/deployments/{made.id}/schedules/{schedule.id}"
    assert scheduler.fill(backend, utcnow()).inserted > 0  # on: the scheduler fills it
    assert post(server, f"{base}/off", {"csrf": csrf_of(page)}).status == 303
    assert not backend.read_deployments(ids=[made.id])[0].schedules[0].active
    # off: the scheduler drops its future runs and makes none
    assert scheduler.fill(backend, utcnow()).inserted == 0
    assert backend.read_flow_runs(deployment=made.id, states=[StateType.SCHEDULED]) == []
    after = text(server.answer("GET", f"/deployments/{made.id}", LOCAL, b""))
    assert ">Turn on</button>" in after and "all off" in text(
        server.answer("GET", "/deployments", LOCAL, b""))  # fmt: skip
    assert post(server, f"{base}/on", {"csrf": csrf_of(page)}).status == 303
    assert backend.read_deployments(ids=[made.id])[0].schedules[0].active
    assert scheduler.fill(backend, utcnow()).inserted > 0  # on again: filled again
    assert post(server, f"{base}/off", {}).status == 403  # the CSRF field here too


def test_the_dashboard_counts_the_last_day_by_state_and_lists_late_and_failed_first(
    backend: LocalBackend, made: Deployment
) -> None:
    from datetime import timedelta

    from flowplan.server import ui_data

    now, N = utcnow(), {"n": 1}  # the schema requires n
    late = backend.create_flow_run(
        made.id, parameters=N, scheduled_time=now - timedelta(hours=2)
    ).id
    backend.mark_late_runs(before=now)
    failed = backend.create_flow_run(
        made.id, parameters=N, scheduled_time=now - timedelta(hours=1)
    ).id
    backend.set_flow_run_state(failed, StateType.FAILED)
    backend.create_flow_run(
        made.id, parameters=N, scheduled_time=now - timedelta(days=2)
    )  # too old
    backend.create_flow_run(
        made.id, parameters=N, scheduled_time=now + timedelta(hours=1)
    )  # not yet
    done = backend.create_flow_run(
        made.id, parameters=N, scheduled_time=now - timedelta(minutes=5)
    ).id
    backend.set_flow_run_state(done, StateType.COMPLETED)
    assert ui_data.runs_by_state(backend, now - timedelta(days=1)) == {
        "LATE": 1, "FAILED": 1, "COMPLETED": 1}  # fmt: skip
    page = text(ui(backend).answer("GET", "/", LOCAL, b""))
    attention = page.split("<h2>Late and failed</h2>")[1].split("<h2>")[0]
    assert re.findall(r'<a href="/runs/([0-9a-f-]{36})">', attention) == [late, failed]


def test_a_pool_and_a_queue_are_paused_and_resumed(backend: LocalBackend, made: Deployment) -> None:
    backend.create_work_queue("pool", "night shift")
    server = ui(backend)
    page = server.answer("GET", "/pools", LOCAL, b"")
    token = csrf_of(page)
    assert 'action="/pools/pool/queues/night%20shift/pause"' in text(page)
    assert post(server, "/pools/pool/pause", {"csrf": token}).status == 303
    assert backend.read_work_pool("pool").status == "PAUSED"
    assert 'action="/pools/pool/resume"' in text(server.answer("GET", "/pools", LOCAL, b""))
    assert post(server, "/pools/pool/queues/night%20shift/pause", {"csrf": token}).status == 303
    assert backend.read_work_queue("pool", "night shift").status == "PAUSED"
    assert post(server, "/pools/pool/queues/night%20shift/resume", {"csrf": token}).status == 303
    assert backend.read_work_queue("pool", "night shift").status != "PAUSED"
    assert post(server, "/pools/pool/resume", {"csrf": token}).status == 303
    assert backend.read_work_pool("pool").status != "PAUSED"
    assert post(server, "/pools/nope/pause", {"csrf": token}).status == 404
    assert post(server, "/pools/pool/pause", {}).status == 403


def test_the_deployments_list_filters_by_name_tag_and_pool(
    backend: LocalBackend, tmp_path: Path, made: Deployment
) -> None:
    deployment(backend, tmp_path, name="other", pool="gpu", tags=("ml",))
    deployment(backend, tmp_path, name="third", tags=("ml",))
    server = ui(backend)

    def names(query: str) -> list[str]:
        page = text(server.answer("GET", "/deployments?" + query, LOCAL, b""))
        return re.findall(r'<a href="/deployments/[0-9a-f-]{36}">([^<]*)</a>', page)

    assert names("") == ["other", "say &quot;hi&quot; now", "third"]
    assert names("q=TH") == ["other", "third"]  # name contains, any case
    assert names("tag=ml") == ["other", "third"]
    assert names("tag=ml&pool=gpu") == ["other"]
    assert names("pool=pool&q=say") == ["say &quot;hi&quot; now"]
    assert names("tag=nope") == []


def test_a_finished_run_is_run_again_with_its_parameters(
    backend: LocalBackend, made: Deployment
) -> None:
    run = backend.create_flow_run(made.id, parameters={"n": 3, "who": "Ada"})
    server = ui(backend)
    page = server.answer("GET", f"/runs/{run.id}", LOCAL, b"")
    assert "Run again" not in text(page) and ">Cancel</button>" in text(page)
    backend.set_flow_run_state(run.id, StateType.FAILED, message="boom")
    page = server.answer("GET", f"/runs/{run.id}", LOCAL, b"")
    assert ">Run again (same parameters)</button>" in text(page)
    assert ">Cancel</button>" not in text(page)
    answer = post(server, f"/runs/{run.id}/again", {"csrf": csrf_of(page)})
    assert answer.status == 303
    newest = backend.read_flow_runs(limit=1)[0]
    assert dict(answer.headers)["location"] == f"/runs/{newest.id}" and newest.id != run.id
    assert newest.parameters == backend.read_flow_run(run.id).parameters
    assert newest.state.type is StateType.SCHEDULED
    assert backend.read_flow_run(run.id).state.type is StateType.FAILED  # kept as it ended
