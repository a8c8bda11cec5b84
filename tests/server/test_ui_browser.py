"""The web UI in a real browser: Debian's headless chromium through selenium, against a real
`flowplan server start` process and a real `flowplan worker start` process on a store of the
test's own. Screenshots of every page go to the test's tmp dir (and to the directory named by
FLOWPLAN_UI_SCREENSHOTS, which is how docs/img/ is refreshed)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from flowplan.backends.local import LocalBackend
from flowplan.domain.objects import Deployment, StateType
from tests.flowplan_server import FlowplanServer, flowplan_server
from tests.integration.workers import Workers, wait_for
from tests.runtime.helpers import deployment, store

GREET = """
from flowplan import flow

@flow
def f(who: str = "world", times: int = 1, style: str = "plain", extra: dict = {}):
    for i in range(times):
        print(f"hello {who} #{i} ({style}) {extra}", flush=True)
"""
FAIL = """
from flowplan import flow

@flow
def f():
    print("about to fail", flush=True)
    raise RuntimeError("boom from the flow")
"""
SLOW = """
import time
from flowplan import flow

@flow
def f():
    print("started, now sleeping", flush=True)
    time.sleep(600)
"""
GREET_SCHEMA = {
    "type": "object", "title": "Parameters", "required": ["who"],
    "properties": {
        "who": {"type": "string", "title": "who", "description": "whom to greet",
                "position": 0},
        "times": {"type": "integer", "title": "times", "default": 1, "position": 1},
        "style": {"enum": ["plain", "fancy"], "type": "string", "default": "plain",
                  "position": 2},
        "extra": {"type": "object", "title": "extra", "default": {}, "position": 3},
    },
}  # fmt: skip
XSS = "<script>document.title='pwned'</script>"


def replaced(element: WebElement) -> bool:
    """The element's page has been replaced. chromedriver says so in two ways: a stale element,
    or, while the new page is being built, 'Node with given id does not belong to the
    document' (selenium's own staleness_of only knows the first)."""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc):
            return True
        raise
    return False


@dataclass
class Env:
    server: FlowplanServer
    backend: LocalBackend
    driver: WebDriver
    shots: Path
    greet: Deployment
    fail: Deployment
    slow: Deployment

    @property
    def base(self) -> str:
        return self.server.url[: -len("/api")]

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def shot(self, name: str) -> None:
        screenshot(self.driver, self.shots, name)

    def wait(self, what: str, check: object, timeout: float = 60) -> object:
        try:
            # a page being replaced (a reload, a form posted) is looked at again
            ignored = (NoSuchElementException, StaleElementReferenceException)
            waiting = WebDriverWait(self.driver, timeout, 0.1, ignored_exceptions=ignored)
            return waiting.until(check)  # type: ignore[arg-type]
        except Exception as exc:
            raise AssertionError(f"waiting for {what}: {self.driver.page_source[-3000:]}") from exc

    def run_page_done(self) -> None:
        """Wait until the run page's script has seen a final state and every log line."""
        self.wait("the run's final state", lambda d: d.find_element(By.ID, "logs")
                  .get_attribute("data-done") == "1", timeout=90)  # fmt: skip


def screenshot(driver: WebDriver, shots: Path, name: str) -> None:
    target = shots / f"{name}.png"
    assert driver.save_screenshot(str(target)), name
    copy_to = os.environ.get("FLOWPLAN_UI_SCREENSHOTS")
    if copy_to:
        Path(copy_to).mkdir(parents=True, exist_ok=True)
        shutil.copy(target, Path(copy_to) / f"ui-{name}.png")


def browser() -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,800", "--hide-scrollbars"):  # fmt: skip
        options.add_argument(flag)
    driver_path = shutil.which("chromedriver")
    if driver_path is None:
        raise RuntimeError("chromedriver is missing: run scripts/system-deps.sh")
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",  # a 1280x800 page exactly
                           {"width": 1280, "height": 800, "deviceScaleFactor": 1,
                            "mobile": False})  # fmt: skip
    return driver


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("ui")
    home = root / "home"
    backend = store(home)
    greet = deployment(backend, root, name="greet", source=GREET, description=XSS,
                       parameter_openapi_schema=GREET_SCHEMA, enforce_parameter_schema=True,
                       tags=("demo",))  # fmt: skip
    fail = deployment(backend, root, name="fail", source=FAIL,
                      parameter_openapi_schema={"type": "object", "properties": {}})  # fmt: skip
    slow = deployment(backend, root, name="slow", source=SLOW,
                      parameter_openapi_schema={"type": "object", "properties": {}})  # fmt: skip
    shots = root / "screenshots"
    shots.mkdir()
    (root / "prefect.yaml").write_text(
        "name: demo\ndeployments:\n  - name: nightly\n    entrypoint: flows/greet.py:f\n"
        "    work_pool: {name: pool}\n    schedules: [{cron: '0 2 * * *'}]\n"
    )
    workers = Workers(home, root)
    driver = None
    try:
        with flowplan_server(home, "--project", str(root)) as server:
            workers.start()
            driver = browser()
            yield Env(server, backend, driver, shots, greet, fail, slow)
    finally:
        if driver is not None:
            driver.quit()
        workers.stop_all()
        backend.close()


def test_the_pool_is_ready_once_a_worker_runs(env: Env) -> None:
    env.open("/pools")
    env.wait("the pool READY", lambda d: "READY" in d.find_element(By.CSS_SELECTOR,
             ".pool h2").text)  # fmt: skip
    assert "pool" in env.driver.find_element(By.CSS_SELECTOR, ".pool h2").text
    workers = env.driver.find_elements(By.CSS_SELECTOR, ".st-online")
    assert workers, env.driver.page_source
    env.shot("pools")


def test_a_run_from_the_form_with_custom_parameters_completes_with_its_logs(env: Env) -> None:
    env.open("/deployments")
    env.shot("deployments")
    env.driver.find_element(By.LINK_TEXT, "greet").click()
    assert env.driver.title == "f/greet - flowplan"  # the description's script did not run
    assert XSS in env.driver.find_element(By.TAG_NAME, "main").text
    env.driver.find_element(By.ID, "f-who").send_keys(f"Ada {XSS}")
    times = env.driver.find_element(By.ID, "f-times")
    times.clear()
    times.send_keys("3")
    Select(env.driver.find_element(By.ID, "f-style")).select_by_visible_text("fancy")
    extra = env.driver.find_element(By.ID, "f-extra")
    extra.clear()
    extra.send_keys('{"k": 1}')
    env.shot("deployment")
    env.driver.find_element(By.CSS_SELECTOR, ".run-form button[type=submit]").click()
    env.wait("the run page", lambda d: "/runs/" in d.current_url)
    env.run_page_done()
    logs = env.driver.find_element(By.ID, "logs").text
    for i in range(3):
        assert f"hello Ada {XSS} #{i} (fancy) {{'k': 1}}" in logs
    assert env.driver.find_element(By.ID, "run-state").text == "Completed"
    assert env.driver.title.endswith(" - flowplan")
    run_id = env.driver.current_url.rsplit("/", 1)[1]
    run = env.backend.read_flow_run(run_id)
    assert run.parameters == {"who": f"Ada {XSS}", "times": 3, "style": "fancy",
                              "extra": {"k": 1}}  # fmt: skip
    assert run.state.type is StateType.COMPLETED
    env.shot("run-completed")
    env.open("/runs")
    assert "Completed" in env.driver.find_element(By.CSS_SELECTOR, "tbody").text
    env.shot("runs")


def test_the_form_refuses_a_bad_value_at_its_field(env: Env) -> None:
    before = len(env.backend.read_flow_runs())
    env.open(f"/deployments/{env.greet.id}")
    env.driver.find_element(By.ID, "f-who").send_keys("Bob")
    times = env.driver.find_element(By.ID, "f-times")
    times.clear()
    times.send_keys("many")
    env.driver.find_element(By.CSS_SELECTOR, ".run-form button[type=submit]").click()
    error = env.wait("the inline error", lambda d: d.find_element(By.ID, "f-times-error"))
    assert error.text == "expected a whole number, got 'many'"  # type: ignore[attr-defined]
    field = env.driver.find_element(By.ID, "f-times")
    assert field.get_attribute("aria-invalid") == "true"
    assert field.get_attribute("value") == "many"  # what was typed is kept
    assert env.driver.find_element(By.ID, "f-who").get_attribute("value") == "Bob"
    env.shot("form-error")
    assert len(env.backend.read_flow_runs()) == before


def test_a_failing_run_is_shown_failed_with_its_traceback(env: Env) -> None:
    env.open(f"/deployments/{env.fail.id}")
    env.driver.find_element(By.XPATH, "//button[text()='Quick run (defaults)']").click()
    env.wait("the run page", lambda d: "/runs/" in d.current_url)
    env.run_page_done()
    assert env.driver.find_element(By.ID, "run-state").text == "Failed"
    page = env.driver.find_element(By.TAG_NAME, "main").text
    assert "about to fail" in page
    assert "Traceback" in page and "RuntimeError: boom from the flow" in page
    env.shot("run-failed")
    env.open("/")
    attention = env.driver.find_elements(By.CSS_SELECTOR, "table")[0].text
    assert "Failed" in attention
    env.shot("dashboard")


def test_cancel_a_running_run(env: Env) -> None:
    env.open(f"/deployments/{env.slow.id}")
    env.driver.find_element(By.XPATH, "//button[text()='Quick run (defaults)']").click()
    env.wait("the run page", lambda d: "/runs/" in d.current_url)
    env.wait("the run to log", lambda d: "now sleeping" in d.find_element(By.ID, "logs").text,
             timeout=90)  # fmt: skip
    assert env.driver.find_element(By.ID, "run-state").text == "Running"
    env.shot("run-running")
    env.driver.find_element(By.XPATH, "//button[text()='Cancel']").click()
    env.run_page_done()
    run_id = env.driver.current_url.rsplit("/", 1)[1]
    assert env.driver.find_element(By.ID, "run-state").text == "Cancelled"
    assert env.backend.read_flow_run(run_id).state.type is StateType.CANCELLED
    assert not env.driver.find_elements(By.XPATH, "//button[text()='Cancel']")


def test_pause_and_resume(env: Env) -> None:
    env.open(f"/deployments/{env.greet.id}")
    env.driver.find_element(By.XPATH, "//button[text()='Pause']").click()
    env.wait("the Resume button", lambda d: d.find_elements(By.XPATH, "//button[text()='Resume']"))
    assert env.backend.read_deployments(ids=[env.greet.id])[0].paused
    env.open("/deployments")
    assert "paused" in env.driver.find_element(By.CSS_SELECTOR, "tbody").text
    env.open(f"/deployments/{env.greet.id}")
    env.driver.find_element(By.XPATH, "//button[text()='Resume']").click()
    env.wait("the Pause button", lambda d: d.find_elements(By.XPATH, "//button[text()='Pause']"))
    assert not env.backend.read_deployments(ids=[env.greet.id])[0].paused


def test_the_plan_page_shows_what_apply_would_create(env: Env) -> None:
    env.open("/")
    env.driver.find_element(By.LINK_TEXT, "Plan").click()
    plan = env.driver.find_element(By.ID, "plan").text
    assert "+ deployment 'f/nightly'" in plan and "Plan: 1 to add" in plan
    before = env.driver.find_element(By.ID, "plan")
    env.driver.find_element(By.XPATH, "//button[text()='Refresh']").click()
    env.wait("the page made again", lambda _: replaced(before))
    assert "+ deployment 'f/nightly'" in env.driver.find_element(By.ID, "plan").text
    env.shot("plan")


def test_every_page_fits_a_phone_screen(env: Env) -> None:
    run = env.backend.read_flow_runs(limit=1)[0]
    phone = {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}
    env.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", phone)
    try:
        for path in ("/", "/deployments", f"/deployments/{env.greet.id}", "/runs",
                     f"/runs/{run.id}", "/pools", "/plan"):  # fmt: skip
            env.open(path)
            wide = env.driver.execute_script(
                "return [document.documentElement.scrollWidth, window.innerWidth]"
            )
            assert wide[0] <= wide[1], (path, wide)  # no sideways scrolling of the page
        env.open(f"/deployments/{env.greet.id}")
        env.shot("phone-deployment")
    finally:
        env.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})  # fmt: skip


def test_a_token_server_shows_a_login_form_first(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store(home).close()
    token = "browser-test-token-0123456789"
    driver = browser()
    try:
        with flowplan_server(home, "--token", token, host="127.0.0.2") as server:
            base = server.url[: -len("/api")]
            driver.get(base + "/runs")
            assert driver.current_url.startswith(base + "/login?next=")
            field = driver.find_element(By.ID, "token")
            assert driver.find_element(By.CSS_SELECTOR, "label[for=token]").text == "Server token"
            field.send_keys("wrong-token-wrong-token")
            driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            error = wait_for("the login error", lambda: driver.find_elements(By.CLASS_NAME,
                             "error"))  # fmt: skip
            assert error[0].text == "That is not this server's token."
            screenshot(driver, tmp_path, "login")
            driver.find_element(By.ID, "token").send_keys(token)
            driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            wait_for("the runs page", lambda: driver.current_url == base + "/runs")
            assert driver.find_element(By.TAG_NAME, "h1").text == "Flow runs"
            cookie = driver.get_cookie("flowplan_token")
            assert cookie and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            # the cookie opens the pages, never the API
            driver.get(server.url + "/deployments/count")
            assert "Unauthorized" in driver.page_source
    finally:
        driver.quit()
