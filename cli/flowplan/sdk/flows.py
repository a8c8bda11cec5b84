"""`@flow`: marks a function as a flow and records what deploying it needs.

Calling a flow calls the function. `.to_deployment()` and `.deploy()` make deployments of it;
its source file is read (never imported again) for the parameter schema.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload
from uuid import UUID

from flowplan.domain.names import check_name

if TYPE_CHECKING:
    from flowplan.sdk.deployments import RunnerDeployment

P = ParamSpec("P")
R = TypeVar("R")


class Flow(Generic[P, R]):
    """A flow: a function with a name, a description and a version."""

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        version: str | None = None,
        flow_run_name: str | None = None,
        retries: int | None = None,
        retry_delay_seconds: float | None = None,
        timeout_seconds: float | None = None,
        log_prints: bool | None = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@flow needs a function, got {type(fn).__name__}")
        self.fn = fn
        self.name = check_name("flow", name or getattr(fn, "__name__", "flow").replace("_", "-"))
        self.description = description or inspect.getdoc(fn)
        self.version = version
        self.flow_run_name = flow_run_name
        self.retries = retries
        self.retry_delay_seconds = retry_delay_seconds
        self.timeout_seconds = timeout_seconds
        self.log_prints = log_prints
        functools.update_wrapper(self, fn)

    @functools.cached_property
    def signature(self) -> inspect.Signature:
        """The function's signature, worked out when first asked, not when the flow is
        defined: every run imports its flow's module, and few ask."""
        return inspect.signature(self.fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Flow(name={self.name!r})"

    def to_deployment(self, name: str | None = None, **kwargs: Any) -> RunnerDeployment:
        """A deployment of this flow (not yet stored); keyword arguments as RunnerDeployment,
        plus `cron`, `interval`, `rrule` and `schedules`."""
        from flowplan.sdk.deployments import RunnerDeployment

        return RunnerDeployment.from_flow(self, name=name, **kwargs)

    def serve(
        self,
        name: str | None = None,
        *,
        limit: int | None = None,
        pause_on_shutdown: bool = True,
        print_starting_message: bool = True,
        **kwargs: Any,
    ) -> None:
        """Serve this flow as the deployment `name` (default: the flow's name) from this
        process: keyword arguments as `to_deployment` (`cron`, `interval`, `parameters`...)."""
        from flowplan.sdk.serve import serve

        serve(self.to_deployment(name or self.name, **kwargs), limit=limit,
              pause_on_shutdown=pause_on_shutdown,
              print_starting_message=print_starting_message)  # fmt: skip

    def deploy(
        self,
        name: str,
        work_pool_name: str | None = None,
        image: Any = None,
        build: bool = True,
        push: bool = True,
        print_next_steps: bool = True,
        ignore_warnings: bool = False,
        **kwargs: Any,
    ) -> UUID:
        """Create or update the deployment `name` of this flow, building and pushing `image`
        first as `deploy()` does (`build=False`: store the image name as it is); returns its
        id."""
        from flowplan.sdk.deployments import deploy

        deployed = deploy(
            self.to_deployment(name, **kwargs), work_pool_name=work_pool_name, image=image,
            build=build, push=push, print_next_steps=print_next_steps,
            ignore_warnings=ignore_warnings,
        )  # fmt: skip
        assert deployed[0].id is not None
        return deployed[0].id


@overload
def flow(__fn: Callable[P, R]) -> Flow[P, R]: ...
@overload
def flow(__fn: None = None, **options: Any) -> Callable[[Callable[P, R]], Flow[P, R]]: ...
def flow(__fn: Any = None, **options: Any) -> Any:
    """Decorate a function as a flow: `@flow` or `@flow(name=..., description=..., version=...)`."""
    if __fn is not None:
        return Flow(__fn, **options)
    return lambda fn: Flow(fn, **options)
