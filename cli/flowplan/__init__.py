"""flowplan: declarative, GitOps-style deployments for Python workflows, driven by prefect.yaml.

The public API is imported lazily (on first attribute access), so that the CLI, which imports
this package too, starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "flow": "flowplan.sdk.flows",
    "Flow": "flowplan.sdk.flows",
    "deploy": "flowplan.sdk.deployments",
    "RunnerDeployment": "flowplan.sdk.deployments",
    "get_deployment": "flowplan.sdk.client",
    "update_deployment": "flowplan.sdk.client",
    "delete_deployment": "flowplan.sdk.client",
    "get_work_pool": "flowplan.sdk.client",
    "create_work_queue": "flowplan.sdk.client",
    "run_deployment": "flowplan.sdk.runs",
    "serve": "flowplan.sdk.serve",
    "initialize_project": "flowplan.project.init",
    "WorkPoolJobConfiguration": "flowplan.domain.job_config",
    "CronSchedule": "flowplan.domain.schedules",
    "IntervalSchedule": "flowplan.domain.schedules",
    "RRuleSchedule": "flowplan.domain.schedules",
    "Deployment": "flowplan.domain.objects",
    "DeploymentImage": "flowplan.domain.images",
    "DeploymentSchedule": "flowplan.domain.objects",
    "FlowRun": "flowplan.domain.objects",
    "State": "flowplan.domain.objects",
    "StateType": "flowplan.domain.objects",
    "WorkPool": "flowplan.domain.objects",
    "WorkQueue": "flowplan.domain.objects",
    "Variable": "flowplan.domain.objects",
    "FlowplanError": "flowplan.errors",
    "ObjectNotFound": "flowplan.errors",
    "DeploymentNotFound": "flowplan.errors",
    "ObjectAlreadyExists": "flowplan.errors",
    "InvalidInput": "flowplan.errors",
}
__all__ = [
    "CronSchedule",
    "Deployment",
    "DeploymentImage",
    "DeploymentNotFound",
    "DeploymentSchedule",
    "Flow",
    "FlowRun",
    "FlowplanError",
    "IntervalSchedule",
    "InvalidInput",
    "ObjectAlreadyExists",
    "ObjectNotFound",
    "RRuleSchedule",
    "RunnerDeployment",
    "State",
    "StateType",
    "Variable",
    "WorkPool",
    "WorkPoolJobConfiguration",
    "WorkQueue",
    "create_work_queue",
    "delete_deployment",
    "deploy",
    "flow",
    "get_deployment",
    "get_work_pool",
    "initialize_project",
    "run_deployment",
    "serve",
    "update_deployment",
]

if TYPE_CHECKING:
    from flowplan.domain.images import DeploymentImage
    from flowplan.domain.job_config import WorkPoolJobConfiguration
    from flowplan.domain.objects import (
        Deployment,
        DeploymentSchedule,
        FlowRun,
        State,
        StateType,
        Variable,
        WorkPool,
        WorkQueue,
    )
    from flowplan.domain.schedules import CronSchedule, IntervalSchedule, RRuleSchedule
    from flowplan.errors import (
        DeploymentNotFound,
        FlowplanError,
        InvalidInput,
        ObjectAlreadyExists,
        ObjectNotFound,
    )
    from flowplan.sdk.client import (
        create_work_queue,
        delete_deployment,
        get_deployment,
        get_work_pool,
        update_deployment,
    )
    from flowplan.sdk.deployments import RunnerDeployment, deploy
    from flowplan.sdk.flows import Flow, flow
    from flowplan.sdk.runs import run_deployment
    from flowplan.sdk.serve import serve


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flowplan' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
