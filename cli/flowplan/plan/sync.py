"""The write path for deployments declared in Python (`deploy()`, `Flow.deploy`,
`RunnerDeployment.deploy`): the same plan and apply session as `flowplan apply`, so every
deployment gets the ownership label and the spec hash, is written under the apply lock, and is
not written at all when nothing changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from flowplan.backends.protocol import Backend
from flowplan.domain.objects import Deployment
from flowplan.domain.specs import DeploymentSpec
from flowplan.errors import FlowplanError
from flowplan.plan.compute import compute_plan
from flowplan.plan.model import Plan
from flowplan.plan.session import apply_session
from flowplan.plan.specs import OWNER_LABEL, Desired
from flowplan.plan.target import read_actual

LOCK_TIMEOUT = 30.0


@dataclass(frozen=True)
class Synced:
    """A deployment as stored after the sync, and what the sync did to it."""

    deployment: Deployment
    action: str  # create, update or noop


def _desired(specs: Sequence[DeploymentSpec]) -> Desired:
    owned = tuple(replace(spec, labels={OWNER_LABEL: "flowplan", **spec.labels}) for spec in specs)
    return Desired(project="", deployments=owned)


def check_deployments(backend: Backend, specs: Sequence[DeploymentSpec]) -> None:
    """Raise as `sync_deployments` would for invalid input (a missing pool, job variables that
    do not fit), writing nothing: `deploy()` checks before it builds an image."""
    compute_plan(_desired(specs), read_actual(backend))


def sync_deployments(
    backend: Backend, specs: Sequence[DeploymentSpec], *, lock_timeout: float = LOCK_TIMEOUT
) -> list[Synced]:
    """Create or update `specs` (in their order), writing only what differs. Invalid input
    (a missing pool, job variables that do not fit) raises before anything is written; a
    write the target refuses raises FlowplanError naming every deployment that failed."""
    desired = _desired(specs)

    def fresh() -> Plan:
        return compute_plan(desired, read_actual(backend))

    results = apply_session(fresh(), backend, saved=False, lock_timeout=lock_timeout,
                            fresh_plan=fresh)  # fmt: skip
    failed = [f"{result.change.key}: {result.message}" for result in results if not result.ok]
    if failed:
        raise FlowplanError("deploying failed for " + "; ".join(failed))
    actions = {result.change.key: result.change.action for result in results}
    stored = {d.full_name: d for d in backend.read_deployments()}
    return [Synced(stored[spec.full_name], actions.get(spec.full_name, "noop")) for spec in specs]
