"""Flows, deployments and their schedules on a Prefect server.

A new deployment is created in one call with its schedules. A live one gets a PATCH with only
the fields that changed (never one when nothing did: the server wipes future runs on every
PATCH), and its schedules are reconciled by slug through `/deployments/{id}/schedules`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from flowplan.backends.prefect import automations, convert
from flowplan.backends.prefect.http import Api
from flowplan.domain.names import check_name
from flowplan.domain.objects import Deployment, DeploymentSchedule, Flow
from flowplan.domain.pool_rules import check_schedule_changes, check_schedule_parameters
from flowplan.domain.specs import (
    DeploymentSpec,
    ScheduleSpec,
    check_changes,
    check_job_variables,
    check_spec,
)
from flowplan.errors import DeploymentNotFound, InvalidInput, ObjectNotFound


class DeploymentsMixin:
    api: Api
    _flows: dict[str, str]  # flow name -> id, filled as flows are read or upserted
    _cache_lock: threading.Lock
    _pool_templates: dict[str, dict[str, Any]]  # pool name -> base job template

    # -- flows -------------------------------------------------------------------------------

    def read_flows(self) -> list[Flow]:
        found = [
            Flow(item["id"], item["name"], convert.time_of(item.get("created")))
            for item in self.api.filter("flows/filter", {"sort": "NAME_ASC"})
        ]
        with self._cache_lock:
            self._flows.update({flow.name: flow.id for flow in found})
        return found

    def _flow_names(self, ids: set[str]) -> dict[str, str]:
        with self._cache_lock:
            known = {flow_id: name for name, flow_id in self._flows.items()}
        if not ids <= set(known):
            missing = sorted(ids - set(known))
            for item in self.api.filter("flows/filter", {"flows": {"id": {"any_": missing}}}):
                known[item["id"]] = item["name"]
        return known

    def _flow_id(self, name: str) -> str:
        with self._cache_lock:
            if name in self._flows:
                return self._flows[name]
        check_name("flow", name)
        flow_id = str(self.api.post("flows/", {"name": name}, idempotent=True)["id"])
        with self._cache_lock:
            self._flows[name] = flow_id
        return flow_id

    # -- deployments ---------------------------------------------------------------------------

    def upsert_deployments(
        self, specs: Sequence[DeploymentSpec], *, new: bool = False
    ) -> list[Deployment]:
        """Create or update deployments. Everything is checked before the first write (names,
        pools, job variables), so a bad spec writes nothing; the writes themselves are separate
        calls, and a re-run after a failure converges."""
        seen: set[str] = set()
        for spec in specs:
            check_spec(spec)
            if spec.full_name in seen:
                raise InvalidInput(f"deployment {spec.full_name!r} is given twice")
            seen.add(spec.full_name)
        templates = self._templates({spec.work_pool_name for spec in specs} - {None})
        for spec in specs:
            if spec.work_queue_name is not None and spec.work_pool_name is None:
                raise InvalidInput(f"work queue {spec.work_queue_name!r} given without a work pool")
            if spec.work_queue_name is not None:
                check_name("work queue", spec.work_queue_name)
            template = templates.get(spec.work_pool_name or "")
            check_job_variables(spec.full_name, spec.job_variables, template)
        return [self._upsert(spec, new) for spec in specs]

    def _templates(self, pools: set[str | None]) -> dict[str, dict[str, Any]]:
        """The base job templates of these pools (ObjectNotFound for a missing one), read once
        per backend and read again when a pool is missing or this backend changed one."""
        with self._cache_lock:
            known = dict(self._pool_templates)
        if not pools or {str(pool) for pool in pools} <= set(known):
            return known
        known = {item["name"]: item.get("base_job_template") or {}
                 for item in self.api.filter("work_pools/filter")}  # fmt: skip
        with self._cache_lock:
            self._pool_templates = known
        for name in sorted(str(pool) for pool in pools):
            if name not in known:
                raise ObjectNotFound.named("work pool", name, known)
        return known

    def _upsert(self, spec: DeploymentSpec, new: bool = False) -> Deployment:
        flow_id = self._flow_id(spec.flow_name)
        live = None if new else self._lookup(spec.flow_name, spec.name)
        if live is None:
            body = {
                **convert.deployment_fields(spec), "name": spec.name, "flow_id": flow_id,
                "schedules": [convert.schedule_create(s) for s in spec.schedules or ()],
            }  # fmt: skip
            # POST is an upsert on (flow, name): sending it again cannot make a duplicate
            created = self.api.post("deployments/", body, idempotent=True)
            if spec.triggers:
                current = automations.owned_by(self.api, created["id"])
                automations.sync(self.api, created["id"], spec.name, spec.triggers, current)
                return self._read_by_id(created["id"])
            return convert.deployment(created, spec.flow_name)
        changes = convert.changed_fields(spec, live)
        current = automations.owned_by(self.api, live.id)
        if "labels" in changes:
            recreated = self._recreate(spec, live, flow_id)
            automations.sync(self.api, recreated.id, spec.name, spec.triggers, current)
            return self._read_by_id(recreated.id)
        if changes:
            self.api.patch(f"deployments/{live.id}", changes)
        if spec.schedules is not None:
            self._reconcile(live, spec.schedules)
        automations.sync(self.api, live.id, spec.name, spec.triggers, current)
        return self._read_by_id(live.id)

    def _recreate(self, spec: DeploymentSpec, live: Deployment, flow_id: str) -> Deployment:
        """Labels can only be set by the create call (an upsert on flow and name): taking over
        a deployment made elsewhere, or a new build label, sends the whole deployment again.
        The server then recreates its schedules, so they are sent with their slugs and flags
        (a schedule the spec leaves alone keeps its `active`)."""
        active = {s.slug: s.active for s in live.schedules}
        if spec.schedules is None:
            schedules = [{"schedule": convert.schedule_body(s.schedule), "active": s.active,
                          "parameters": s.parameters, "slug": s.slug}
                         for s in live.schedules]  # fmt: skip
        else:
            schedules = []
            for item in spec.schedules:
                body = convert.schedule_create(item)
                kept = active.get(item.effective_slug, active.get(str(item.replaces)))
                if item.active is None and kept is not None:
                    body["active"] = kept
                schedules.append(body)
        body = {**convert.deployment_fields(spec), "name": spec.name, "flow_id": flow_id,
                "schedules": schedules}  # fmt: skip
        body.setdefault("paused", live.paused)
        return convert.deployment(self.api.post("deployments/", body, idempotent=True),
                                  spec.flow_name)  # fmt: skip

    def _reconcile(self, live: Deployment, specs: Sequence[ScheduleSpec]) -> None:
        from flowplan.domain.schedules import canonical

        existing = {s.slug: s for s in live.schedules}
        wanted, created = set(), []
        for spec in specs:
            slug = spec.effective_slug
            wanted.add(slug)
            changes: dict[str, Any] = {}
            if slug not in existing and spec.replaces in existing:
                existing[slug] = existing.pop(str(spec.replaces))
                changes["slug"] = slug
            current = existing.get(slug)
            if current is None:
                created.append(convert.schedule_create(spec))
                continue
            if canonical(current.schedule) != canonical(spec.schedule):
                changes["schedule"] = convert.schedule_body(spec.schedule)
            if current.parameters != spec.parameters:
                changes["parameters"] = spec.parameters
            if spec.active is not None and current.active != spec.active:
                changes["active"] = spec.active
            if changes:
                self.api.patch(f"deployments/{live.id}/schedules/{current.id}", changes)
        for slug, current in existing.items():
            if slug not in wanted:
                self.api.delete(f"deployments/{live.id}/schedules/{current.id}")
        if created:
            self.api.post(f"deployments/{live.id}/schedules", created)

    def _raw(self, path: str) -> dict[str, Any] | None:
        try:
            return dict(self.api.get(path))
        except ObjectNotFound:
            return None

    def _lookup(self, flow_name: str, name: str) -> Deployment | None:
        """The live deployment without its triggers (what an upsert compares its fields with)."""
        path = f"deployments/name/{quote(flow_name, safe='')}/{quote(name, safe='')}"
        found = self._raw(path)
        return None if found is None else convert.deployment(found, flow_name)

    def _with_triggers(self, item: Mapping[str, Any], owned: Sequence[Mapping[str, Any]],
                       flow_name: str) -> Deployment:  # fmt: skip
        return replace(convert.deployment(item, flow_name),
                       triggers=[automations.as_trigger(a) for a in owned])  # fmt: skip

    def _read_by_name(self, flow_name: str, name: str) -> Deployment:
        path = f"deployments/name/{quote(flow_name, safe='')}/{quote(name, safe='')}"
        found = self._raw(path)
        if found is None:
            known = [d.full_name for d in self.read_deployments()]
            raise DeploymentNotFound.named("deployment", f"{flow_name}/{name}", known)
        return self._with_triggers(found, automations.owned_by(self.api, found["id"]), flow_name)

    def _read_by_id(self, deployment_id: str) -> Deployment:
        found = self._raw(f"deployments/{deployment_id}") if _looks_like_id(deployment_id) else None
        if found is None:
            raise DeploymentNotFound(f"deployment {deployment_id!r} not found")
        flow_name = self._flow_names({found["flow_id"]}).get(found["flow_id"], "?")
        return self._with_triggers(found, automations.owned_by(self.api, deployment_id), flow_name)

    def read_deployment(self, name: str) -> Deployment:
        """By `flow/deployment`, by id, or by a bare name only one flow has."""
        if "/" in name:
            flow_name, _, deployment_name = name.partition("/")
            return self._read_by_name(flow_name, deployment_name)
        try:
            return self._read_by_id(name)
        except DeploymentNotFound:
            found = [d for d in self.read_deployments() if d.name == name]
        if len(found) == 1:
            return found[0]
        if found:
            raise InvalidInput(
                f"deployment name {name!r} matches {len(found)} flows: "
                + ", ".join(d.full_name for d in found),
                hint="use the full name 'flow-name/deployment-name'",
            )
        known = [d.full_name for d in self.read_deployments()]
        raise DeploymentNotFound.named("deployment", name, known)

    def read_deployments(
        self,
        *,
        flow_name: str | None = None,
        work_pool_name: str | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[Deployment]:
        body: dict[str, Any] = {"sort": "NAME_ASC"}
        if ids is not None:
            if not ids:
                return []
            body["deployments"] = {"id": {"any_": [i for i in ids if _looks_like_id(i)]}}
        if flow_name is not None:
            body["flows"] = {"name": {"any_": [flow_name]}}
        if work_pool_name is not None:
            body["work_pools"] = {"name": {"any_": [work_pool_name]}}
        found = list(self.api.filter("deployments/filter", body))
        names = self._flow_names({item["flow_id"] for item in found})
        owned = automations.owned(self.api) if found else {}
        result = [
            self._with_triggers(item, owned.get(item["id"], []), names.get(item["flow_id"], "?"))
            for item in found
        ]
        if ids is not None:
            position = {deployment_id: index for index, deployment_id in enumerate(ids)}
            return sorted(result, key=lambda d: position.get(d.id, 0))
        return sorted(result, key=lambda d: (d.flow_name, d.name))

    def export_deployments(
        self,
        *,
        flow_name: str | None = None,
        work_pool_name: str | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[str]:
        import json

        found = self.read_deployments(flow_name=flow_name, work_pool_name=work_pool_name, ids=ids)
        return [json.dumps(d.to_json()) for d in found]

    def update_deployment(self, deployment_id: str, changes: Mapping[str, Any]) -> Deployment:
        check_changes(changes)
        current = self._read_by_id(deployment_id)
        if {"job_variables", "work_pool_name"} & set(changes):
            pool = changes.get("work_pool_name", current.work_pool_name)
            template = self._templates({pool}).get(pool or "") if pool else None
            job_variables = changes.get("job_variables", current.job_variables)
            check_job_variables(deployment_id, job_variables, template)
        body = {key: value for key, value in changes.items() if key != "schedules"}
        if body:
            self.api.patch(f"deployments/{deployment_id}", body)
        if changes.get("schedules") is not None:
            self._reconcile(self._read_by_id(deployment_id), changes["schedules"])
        return self._read_by_id(deployment_id)

    def delete_deployment(self, deployment_id: str) -> None:
        """Delete a deployment and its runs that have not started (the server keeps them)."""
        self._read_by_id(deployment_id)
        waiting = {"deployments": {"id": {"any_": [deployment_id]}},
                   "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}}  # fmt: skip
        for run in list(self.api.filter("flow_runs/filter", waiting)):
            self.api.delete(f"flow_runs/{run['id']}")
        for automation in automations.owned_by(self.api, deployment_id):
            self.api.delete(f"automations/{automation['id']}")
        try:
            self.api.delete(f"deployments/{deployment_id}")
        except ObjectNotFound:
            raise DeploymentNotFound(f"deployment {deployment_id!r} not found") from None

    # -- schedules ---------------------------------------------------------------------------

    def create_deployment_schedules(
        self, deployment_id: str, specs: Sequence[ScheduleSpec]
    ) -> list[DeploymentSchedule]:
        check_schedule_parameters(specs)
        live = self._read_by_id(deployment_id)
        taken = {s.slug for s in live.schedules}
        for spec in specs:
            if spec.effective_slug in taken:
                raise InvalidInput(f"the deployment already has a schedule {spec.effective_slug!r}")
            taken.add(spec.effective_slug)
        created = self.api.post(
            f"deployments/{deployment_id}/schedules", [convert.schedule_create(s) for s in specs]
        )
        return [convert.schedule(item) for item in created]

    def update_deployment_schedule(
        self, deployment_id: str, schedule_id: str, changes: Mapping[str, Any]
    ) -> DeploymentSchedule:
        check_schedule_changes(changes)
        body = dict(changes)
        if "schedule" in body:
            body["schedule"] = convert.schedule_body(body["schedule"])
        self._schedule(deployment_id, schedule_id)
        if body:
            self.api.patch(f"deployments/{deployment_id}/schedules/{schedule_id}", body)
        return self._schedule(deployment_id, schedule_id)

    def delete_deployment_schedule(self, deployment_id: str, schedule_id: str) -> None:
        self._schedule(deployment_id, schedule_id)
        self.api.delete(f"deployments/{deployment_id}/schedules/{schedule_id}")

    def _schedule(self, deployment_id: str, schedule_id: str) -> DeploymentSchedule:
        for schedule in self._read_by_id(deployment_id).schedules:
            if schedule.id == schedule_id:
                return schedule
        raise ObjectNotFound(f"schedule {schedule_id!r} not found on this deployment")


def _looks_like_id(text: str) -> bool:
    import uuid

    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
