"""The `flowplan deploy` wizard: on a terminal, it asks what the command line and prefect.yaml
leave open, in this order: flow, deployment name, schedules, work pool (or a new one), work
queue, remote code, docker image. It only builds a deployment mapping (as it would be written
in prefect.yaml) and the pools to declare: the deploy command plans, confirms and applies.

Every question has a flag, so CI never sees one; Ctrl-C at any point raises KeyboardInterrupt
before anything is written or deployed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from flowplan.domain.job_templates import POOL_TYPES
from flowplan.domain.schedule_rules import (
    cron_problem,
    parse_interval,
    rrule_problem,
    timezone_problem,
)

MANUAL = "__manual__"
NEW_POOL = "__new__"


class Ask(Protocol):
    """The questions the wizard can ask (questionary on a terminal; a script in tests)."""

    def select(self, message: str, choices: Sequence[tuple[str, Any]], default: Any = None
               ) -> Any: ...  # fmt: skip
    def text(self, message: str, default: str = "",
             validate: Callable[[str], str | None] | None = None) -> str: ...  # fmt: skip
    def confirm(self, message: str, default: bool = True) -> bool: ...


@dataclass
class Given:
    """What the command line already answers (None: ask)."""

    entrypoint: str | None = None
    name: str | None = None
    schedules: list[dict[str, Any]] | None = None  # given with --cron/--interval/--rrule
    pool: str | None = None
    pool_type: str | None = None  # for a pool to create (--pool-type)
    queue: str | None = None
    has_pull_steps: bool = False  # the file already says how code is fetched
    git: dict[str, str] = field(default_factory=dict)  # repository and branch, when detected


@dataclass
class Answers:
    deployment: dict[str, Any]
    new_pools: list[dict[str, Any]]


def _entrypoint_problem(root: Path, known: set[str]) -> Callable[[str], str | None]:
    def check(text: str) -> str | None:
        text = text.strip().removeprefix("./")
        path, sep, function = text.rpartition(":")
        if not sep or not path or not function.isidentifier():
            return "use path/to/file.py:flow_function"
        if text in known:
            return None
        file = (root / path).resolve()
        if not file.is_file() or not file.is_relative_to(root.resolve()):
            return f"{path} is not a file in this project"
        return f"no flow named {function} in {path}"

    return check


def _name_problem(text: str) -> str | None:
    from flowplan.domain.names import check_name
    from flowplan.errors import InvalidInput

    try:
        check_name("deployment", text)
    except InvalidInput as exc:
        return str(exc)
    return None


def _schedule_problem(kind: str) -> Callable[[str], str | None]:
    def check(text: str) -> str | None:
        if kind == "cron":
            return cron_problem(text)
        if kind == "rrule":
            return rrule_problem(text)
        try:
            return None if parse_interval(text) > 0 else "must be more than 0 seconds"
        except ValueError as exc:
            return str(exc)

    return check


def ask_schedules(ask: Ask) -> list[dict[str, Any]]:
    schedules: list[dict[str, Any]] = []
    if not ask.confirm("Would you like to add a schedule?", default=False):
        return schedules
    while True:
        kind = ask.select("What kind of schedule?", [("Interval (every N seconds)", "interval"),
                          ("Cron", "cron"), ("RRule", "rrule")], default="interval")  # fmt: skip
        prompt = {"interval": "Seconds between runs", "cron": "Cron expression",
                  "rrule": "RRule (RFC 5545)"}[kind]  # fmt: skip
        default = {"interval": "3600", "cron": "0 0 * * *", "rrule": "FREQ=DAILY"}[kind]
        value: Any = ask.text(prompt, default, _schedule_problem(kind))
        if kind == "interval":
            value = parse_interval(value)
            value = int(value) if float(value).is_integer() else value
        zone = ask.text("Time zone", "UTC", timezone_problem)
        active = ask.confirm("Activate this schedule?", default=True)
        schedules.append({kind: value, "timezone": zone, "active": active})
        if not ask.confirm("Add another schedule?", default=False):
            return schedules


def ask_pool(ask: Ask, given: Given, pools: dict[str, tuple[str, list[str]]]) -> Answers:
    """Pool (choose, or create: name and type), then the queue when the pool has several."""
    new_pools: list[dict[str, Any]] = []
    pool = given.pool
    if pool is None:
        choices = [(f"{name} ({kind})", name) for name, (kind, _) in sorted(pools.items())]
        choices.append(("Create a new work pool", NEW_POOL))
        pool = ask.select("Which work pool should run this deployment?", choices,
                          default=choices[0][1])  # fmt: skip
    if pool == NEW_POOL or pool not in pools:
        if pool == NEW_POOL:
            pool = ask.text("Name of the new work pool", "my-pool", _pool_name_problem)
        kind = given.pool_type or ask.select(
            f"Type of work pool {pool!r}", [(t, t) for t in POOL_TYPES], default="process"
        )
        new_pools.append({"name": pool, "type": kind})
        pools = {**pools, pool: (kind, ["default"])}
    queue = given.queue
    queues = pools[pool][1]
    if queue is None and len(queues) > 1:
        queue = ask.select("Which work queue?", [(q, q) for q in queues], default=queues[0])
    work_pool: dict[str, Any] = {"name": pool}
    if queue and queue != "default":
        work_pool["work_queue_name"] = queue
    return Answers({"work_pool": work_pool}, new_pools)


def _pool_name_problem(text: str) -> str | None:
    if text.lower().startswith("prefect"):
        return "names starting with 'prefect' are reserved"
    problem = _name_problem(text)
    return problem.replace("deployment", "work pool") if problem else None


def ask_remote_code(ask: Ask, given: Given, root: Path) -> list[dict[str, Any]] | None:
    """Pull steps: from the git remote (a private repository's token by reference only), or
    this directory. None when the file already has pull steps."""
    if given.has_pull_steps:
        return None
    git = given.git
    if git and ask.confirm(
        f"Should workers pull this flow's code from {git['repository']} (branch"
        f" {git['branch']}) when a run starts?", default=True,
    ):  # fmt: skip
        clone: dict[str, Any] = {"repository": git["repository"], "branch": git["branch"]}
        if ask.confirm("Is it a private repository?", default=False):
            how = ask.select("Where does the access token come from?", [
                ("A flowplan secret (flowplan secret set NAME)", "secret"),
                ("An environment variable on the worker", "env")], default="secret")  # fmt: skip
            if how == "secret":
                name = ask.text("Name of the secret", "git-token", _key_problem)
                clone["access_token"] = f"{{{{ prefect.blocks.secret.{name} }}}}"
            else:
                name = ask.text("Name of the environment variable", "GIT_TOKEN", _key_problem)
                clone["access_token"] = f"{{{{ ${name} }}}}"
        return [{"prefect.deployments.steps.git_clone": clone}]
    return [{"prefect.deployments.steps.set_working_directory": {"directory": str(root)}}]


def _key_problem(text: str) -> str | None:
    import re

    return None if re.fullmatch(r"[A-Za-z0-9_-]+", text) else "letters, digits, _ and - only"


def ask_image(ask: Ask, name: str) -> dict[str, Any]:
    """Build (and push) a docker image for docker and kubernetes pools."""
    if not ask.confirm("Build a custom Docker image for this deployment?", default=False):
        return {}
    image = ask.text("Image name (with its registry)", name, _image_problem)
    tag = ask.text("Image tag", "latest", _image_problem)
    steps: dict[str, Any] = {"build": [{"prefect_docker.deployments.steps.build_docker_image": {
        "id": "build_image", "requires": "prefect-docker>=0.3.1", "image_name": image,
        "tag": tag, "dockerfile": "auto"}}]}  # fmt: skip
    if ask.confirm("Push the image to its registry?", default=True):
        steps["push"] = [{"prefect_docker.deployments.steps.push_docker_image": {
            "requires": "prefect-docker>=0.3.1", "image_name": "{{ build_image.image_name }}",
            "tag": "{{ build_image.tag }}"}}]  # fmt: skip
    return steps


def _image_problem(text: str) -> str | None:
    return None if text and " " not in text else "no spaces, and not empty"


def run_wizard(
    ask: Ask,
    given: Given,
    root: Path,
    flows: Sequence[tuple[str, str]],  # (entrypoint, flow name), as discovered
    pools: dict[str, tuple[str, list[str]]],  # name -> (type, queue names)
) -> Answers:
    entrypoint = given.entrypoint
    if entrypoint is None:
        choices = [(f"{flow}  ({path})", path) for path, flow in flows]
        choices.append(("Enter an entrypoint (path/to/file.py:flow_function)", MANUAL))
        entrypoint = ask.select("Which flow would you like to deploy?", choices,
                                default=choices[0][1])  # fmt: skip
        if entrypoint == MANUAL:
            known = {path for path, _ in flows}
            entrypoint = ask.text("Entrypoint", "", _entrypoint_problem(root, known))
    entrypoint = entrypoint.strip().removeprefix("./")
    name = given.name or ask.text("Deployment name", "default", _name_problem)
    deployment: dict[str, Any] = {"name": name, "entrypoint": entrypoint}
    schedules = given.schedules if given.schedules is not None else ask_schedules(ask)
    if schedules:
        deployment["schedules"] = schedules
    pooled = ask_pool(ask, given, pools)
    deployment.update(pooled.deployment)
    pool = deployment["work_pool"]["name"]
    kind = {**{n: t for n, (t, _) in pools.items()},
            **{p["name"]: p["type"] for p in pooled.new_pools}}[pool]  # fmt: skip
    pull = ask_remote_code(ask, given, root)
    if pull is not None:
        deployment["pull"] = pull
    if kind in ("docker", "kubernetes"):
        image = ask_image(ask, name)
        if image:
            deployment.update(image)
            deployment["work_pool"]["job_variables"] = {"image": "{{ build_image.image }}"}
    return Answers(deployment, pooled.new_pools)


def _style() -> Any:
    from questionary import Style

    return Style([("placeholder", "fg:ansibrightblack italic")])


class Questionary:
    """`Ask` on a terminal. `unsafe_ask` lets Ctrl-C raise KeyboardInterrupt (exit 130)."""

    def select(self, message: str, choices: Sequence[tuple[str, Any]], default: Any = None
               ) -> Any:  # fmt: skip
        import questionary

        options = [questionary.Choice(title, value=value) for title, value in choices]
        chosen = next((o for o in options if o.value == default), None)
        return questionary.select(message, options, default=chosen).unsafe_ask()

    def text(self, message: str, default: str = "",
             validate: Callable[[str], str | None] | None = None) -> str:  # fmt: skip
        """The default is a dim placeholder, not text in the box: typing replaces it, and Enter
        on an empty box answers it (shown as the answer once accepted)."""
        import questionary
        from prompt_toolkit.formatted_text import FormattedText
        from prompt_toolkit.key_binding import KeyBindings

        keys = KeyBindings()

        @keys.add("enter", eager=True)
        def _accept(event: Any) -> None:
            buffer = event.current_buffer
            if not buffer.text and default:
                buffer.text = default
            buffer.validate_and_handle()

        def check(value: str) -> bool | str:
            problem = validate(value or default) if validate else None
            return True if problem is None else problem

        placeholder = FormattedText([("class:placeholder", default)]) if default else None
        question = questionary.text(message, validate=check, key_bindings=keys,
                                    placeholder=placeholder,
                                    style=_style())  # fmt: skip
        return str(question.unsafe_ask() or default)

    def confirm(self, message: str, default: bool = True) -> bool:
        import questionary

        return bool(questionary.confirm(message, default=default).unsafe_ask())
