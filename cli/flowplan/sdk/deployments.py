"""`RunnerDeployment` and `deploy()`: deployments made from Python, stored in one go."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from flowplan.backends import get_backend
from flowplan.domain.images import DeploymentImage
from flowplan.domain.names import check_name
from flowplan.domain.schedules import (
    CronSchedule,
    IntervalSchedule,
    RRuleSchedule,
    Schedule,
    as_schedule,
)
from flowplan.domain.specs import DeploymentSpec, ScheduleSpec
from flowplan.domain.values import check_limit
from flowplan.errors import InvalidInput, ObjectNotFound
from flowplan.sdk.entrypoints import locate
from flowplan.sdk.flows import Flow
from flowplan.settings import default_work_pool
from flowplan.steps.catalog import default_pull

if TYPE_CHECKING:
    from flowplan.plan.sync import Synced


def _schedule_specs(
    schedule: Any, schedules: Iterable[Any] | None, cron: Any, interval: Any, rrule: Any
) -> tuple[ScheduleSpec, ...] | None:
    items: list[Any] = []
    if schedule is not None:
        items.append(schedule)
    items.extend(schedules or ())
    items += [CronSchedule(c) for c in _many(cron)]
    items += [IntervalSchedule(i) for i in _many(interval)]
    items += [RRuleSchedule(r) for r in _many(rrule)]
    specs = []
    for item in items:
        if isinstance(item, ScheduleSpec):
            specs.append(item)
        elif isinstance(item, Mapping) and "schedule" in item:
            extra = {k: v for k, v in item.items() if k != "schedule"}
            specs.append(ScheduleSpec(as_schedule(item["schedule"]), **extra))
        else:
            specs.append(ScheduleSpec(as_schedule(item)))
    return tuple(specs) if (schedule is not None or schedules is not None or specs) else None


def _many(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


class RunnerDeployment:
    """A deployment of a flow, described in Python; `deploy()` stores it."""

    def __init__(
        self,
        name: str,
        flow: Flow[Any, Any],
        schedule: Schedule | Mapping[str, Any] | None = None,
        parameters: Mapping[str, Any] | None = None,
        tags: Iterable[str] | None = None,
        description: str | None = None,
        version: str | None = None,
        work_pool_name: str | None = None,
        work_queue_name: str | None = None,
        job_variables: Mapping[str, Any] | None = None,
        enforce_parameter_schema: bool | None = None,
        *,
        schedules: Iterable[Any] | None = None,
        cron: str | Iterable[str] | None = None,
        interval: Any = None,
        rrule: str | Iterable[str] | None = None,
        paused: bool | None = None,
        concurrency_limit: int | None = None,
    ) -> None:
        if not isinstance(flow, Flow):
            raise InvalidInput(f"expected a flow made with @flow, got {type(flow).__name__}")
        if isinstance(tags, str):
            raise InvalidInput("tags must be a list of strings, not one string",
                               hint=f"did you mean tags=[{tags!r}]?")  # fmt: skip
        self.name = check_name("deployment", name)
        self.flow = flow
        self.schedules = _schedule_specs(schedule, schedules, cron, interval, rrule)
        self.parameters = dict(parameters or {})
        self.tags = tuple(tags or ())
        self.description = description if description is not None else flow.description
        self.version = version if version is not None else flow.version
        self.work_pool_name = work_pool_name
        self.work_queue_name = work_queue_name
        self.job_variables = dict(job_variables or {})
        self.enforce_parameter_schema = enforce_parameter_schema
        self.paused = paused
        self.concurrency_limit = check_limit("concurrency limit", concurrency_limit)
        self.location = locate(flow.fn, flow.name)
        if self.version is None:
            self.version = self.location.file_hash  # as Prefect: the flow file's hash
        self.id: UUID | None = None
        self._check_parameters()

    @classmethod
    def from_flow(
        cls, flow: Flow[Any, Any], name: str | None = None, **kwargs: Any
    ) -> RunnerDeployment:
        return cls(name or flow.name, flow, **kwargs)

    @property
    def full_name(self) -> str:
        return f"{self.flow.name}/{self.name}"

    @property
    def entrypoint(self) -> str:
        return self.location.entrypoint

    def __repr__(self) -> str:
        return f"RunnerDeployment(name={self.name!r}, flow={self.flow.name!r})"

    def _check_parameters(self) -> None:
        known = self.location.parameter_schema["properties"]
        unknown = sorted(set(self.parameters) - set(known))
        if unknown and not self.location.accepts_any_keyword:
            raise InvalidInput(
                f"deployment {self.full_name!r}: parameter(s) {', '.join(unknown)} are not "
                f"parameters of flow {self.flow.name!r} (it takes: {', '.join(known) or 'none'})"
            )

    def to_spec(self, work_pool_name: str | None, image: str | None) -> DeploymentSpec:
        pool = self.work_pool_name or work_pool_name or default_work_pool()
        if pool is None:
            raise InvalidInput(
                f"a work pool is required to deploy {self.full_name!r}",
                hint="pass work_pool_name=..., or set FLOWPLAN_DEFAULT_WORK_POOL_NAME",
            )
        job_variables = dict(self.job_variables)
        directory = str(self.location.root)
        if image is not None:
            job_variables.setdefault("image", image)
            directory = f"/opt/prefect/{self.location.root.name}"
        return DeploymentSpec(
            flow_name=self.flow.name, name=self.name, entrypoint=self.location.entrypoint,
            path=str(self.location.root), description=self.description, version=self.version,
            tags=self.tags, parameters=self.parameters,
            parameter_openapi_schema=self.location.parameter_schema,
            enforce_parameter_schema=self.enforce_parameter_schema is not False,
            job_variables=job_variables, work_pool_name=pool,
            work_queue_name=self.work_queue_name,
            pull_steps=default_pull(directory),
            concurrency_limit=self.concurrency_limit, paused=self.paused,
            schedules=self.schedules,
        )  # fmt: skip

    def serve(
        self,
        pause_on_shutdown: bool = True,
        print_starting_message: bool = True,
        limit: int | None = None,
    ) -> None:
        """Run this deployment's runs from this process until Ctrl-C (see `flowplan.serve`)."""
        from flowplan.sdk.serve import serve

        serve(self, limit=limit, pause_on_shutdown=pause_on_shutdown,
              print_starting_message=print_starting_message)  # fmt: skip

    def deploy(
        self,
        work_pool_name: str | None = None,
        image: Any = None,
        build: bool = True,
        push: bool = True,
    ) -> UUID:
        """Store this deployment (created or updated), building and pushing `image` first as
        `deploy()` does; returns its id."""
        deploy(self, work_pool_name=work_pool_name, image=image, build=build, push=push,
               print_next_steps=False)  # fmt: skip
        assert self.id is not None
        return self.id


def _as_image(image: Any, build: bool) -> DeploymentImage | str | None:
    """A DeploymentImage to build, or the reference to store as it is (build=False)."""
    if image is None or isinstance(image, DeploymentImage):
        return image
    if not isinstance(image, str) or not image:
        raise InvalidInput(f"image must be an image name or a DeploymentImage, got {image!r}")
    return DeploymentImage(image) if build else image


def _build_context(deployments: Sequence[RunnerDeployment], image: DeploymentImage) -> Path:
    if "context" in image.build_kwargs:
        return Path(image.build_kwargs["context"]).resolve()
    roots = {deployment.location.root for deployment in deployments}
    if len(roots) > 1:
        listed = ", ".join(sorted(str(root) for root in roots))
        raise InvalidInput(
            f"the deployments sharing image {image.reference!r} come from several projects "
            f"({listed}); one image holds one project",
            hint="deploy each project with its own image, or pass DeploymentImage(context=...)",
        )
    return next(iter(roots))


def build_image(
    image: DeploymentImage, context_dir: Path, push: bool, echo: Callable[[str], None]
) -> bool:
    """Build `image` once from `context_dir` (skipped when the engine has an image of the same
    build digest) and push it if asked; returns whether a build ran. Raises
    StepExecutionError with the build log's tail or the registry's answer."""
    from flowplan.steps.builtin import docker as docker_steps
    from flowplan.steps.builtin import images

    options = {k: v for k, v in image.build_kwargs.items()
               if k not in ("base_image", "install_flowplan", "context")}  # fmt: skip
    if image.dockerfile == "auto":
        if (context_dir / "Dockerfile").exists():
            raise InvalidInput(
                f"a Dockerfile already exists in {context_dir}; dockerfile='auto' would not use it",
                hint="pass DeploymentImage(..., dockerfile='Dockerfile') to build from it",
            )
        base = image.build_kwargs.get("base_image") or images.default_base_image()
        install = image.build_kwargs.get("install_flowplan", True)
        context = images.auto_context(context_dir, base, bool(install))
    else:
        context = images.user_context(context_dir, image.dockerfile)
    engine = docker_steps.client()
    built = images.build(engine, context, image.reference, options, echo=echo)
    if push:
        docker_steps.push_docker_image(image.name, image.tag)
        echo(f"image {image.reference}: pushed")
    return built.built


def deploy(
    *flows: Flow[Any, Any] | RunnerDeployment,
    name: str | None = None,
    work_pool_name: str | None = None,
    image: Any = None,
    build: bool = True,
    push: bool = True,
    print_next_steps: bool = True,
    ignore_warnings: bool = False,
    **kwargs: Any,
) -> list[RunnerDeployment]:
    """Create or update several deployments at once, through the same plan and apply session
    as `flowplan apply` (ownership label, spec hash, lock; unchanged ones are not written).

    Each item is a RunnerDeployment or a flow (deployed as `name`, with `kwargs` such as
    schedule, parameters, tags). Raises ValueError (InvalidInput) on invalid configuration; then
    nothing is stored.

    `image` (a name or a DeploymentImage) is built once for all of them (not at all when the
    engine has an image of the same build digest), pushed when `push`, and set as each one's
    `image` job variable; `build=False` stores the name as it is. A build or push that fails
    raises StepExecutionError (with the build log's tail) and nothing is stored.
    """
    if not flows:
        raise InvalidInput("deploy() needs at least one flow or deployment")
    deployments = []
    for item in flows:
        if isinstance(item, RunnerDeployment):
            deployments.append(item)
        elif isinstance(item, Flow):
            deployments.append(RunnerDeployment.from_flow(item, name=name, **kwargs))
        else:
            raise InvalidInput(f"deploy() takes flows and RunnerDeployments, got {item!r}")
    wanted = _as_image(image, build)
    reference = wanted.reference if isinstance(wanted, DeploymentImage) else wanted
    specs = [deployment.to_spec(work_pool_name, reference) for deployment in deployments]
    from flowplan.plan.sync import check_deployments, sync_deployments

    backend = get_backend()
    try:
        if isinstance(wanted, DeploymentImage) and build:
            check_deployments(backend, specs)  # before a build: its errors come first
            say = _say if print_next_steps else _quiet
            build_image(wanted, _build_context(deployments, wanted), push, say)
        synced = sync_deployments(backend, specs)
    except ObjectNotFound as exc:
        raise InvalidInput(exc.message, hint=exc.hint) from None
    for deployment, record in zip(deployments, synced, strict=True):
        deployment.id = UUID(record.deployment.id)
    if print_next_steps:
        _print_next_steps(synced)
    return deployments


def _say(text: str) -> None:
    from flowplan import console

    console.out(text)


def _quiet(text: str) -> None:
    pass


def _print_next_steps(synced: Sequence[Synced]) -> None:
    from flowplan import console

    stored = [item.deployment for item in synced]
    console.out("Successfully created/updated all deployments!")
    verbs = {"create": "created", "update": "updated", "noop": "unchanged"}
    for item in synced:
        record = item.deployment
        console.out(f"  {record.full_name} ({verbs[item.action]}, id {record.id})")
    pools = sorted({record.work_pool_name for record in stored if record.work_pool_name})
    console.out("To execute flow runs from these deployments, start a worker:")
    for pool in pools:
        console.out(f"  $ flowplan worker start --pool '{pool}'")
    console.out("To trigger a run of one of them:")
    console.out(f"  $ flowplan deployment run '{stored[0].full_name}'")
