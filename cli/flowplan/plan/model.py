"""A plan is a value: an ordered tuple of changes, each with its field-level differences."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Action = Literal["create", "update", "delete", "noop"]
Kind = Literal["work_pool", "work_queue", "deployment", "webhook"]
KIND_ORDER: dict[str, int] = {"work_pool": 0, "work_queue": 1, "deployment": 2, "webhook": 3}


@dataclass(frozen=True)
class FieldChange:
    name: str  # a field, or `schedules[slug].field`
    before: Any
    after: Any

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class Change:
    action: Action
    kind: Kind
    key: str  # pool name, `pool/queue`, `flow/deployment`
    fields: tuple[FieldChange, ...] = ()
    after: dict[str, Any] | None = None  # the desired object (create, update)
    target_id: str | None = None  # the live object's id (update, delete)
    fingerprint: str | None = None  # the live object's state when planned (None: absent)
    drift: bool = False  # the live object changed outside flowplan since its last apply
    # a no-op that apply still writes: only the ownership labels of a deployment nobody owns
    # differ (one made by `prefect deploy` or by hand, imported with `flowplan import`)
    adopt: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action, "kind": self.kind, "key": self.key,
            "fields": [f.to_json() for f in self.fields], "after": self.after,
            "target_id": self.target_id, "fingerprint": self.fingerprint, "drift": self.drift,
            **({"adopt": True} if self.adopt else {}),
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Change:
        return cls(
            action=data["action"], kind=data["kind"], key=data["key"],
            fields=tuple(FieldChange(f["name"], f["before"], f["after"]) for f in data["fields"]),
            after=data["after"], target_id=data["target_id"], fingerprint=data["fingerprint"],
            drift=data["drift"], adopt=data.get("adopt", False),
        )  # fmt: skip


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    target: str = ""
    project_hash: str = ""
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def counts(self) -> dict[str, int]:
        found = {"create": 0, "update": 0, "delete": 0, "noop": 0}
        for change in self.changes:
            found[change.action] += 1
        return found

    @property
    def has_changes(self) -> bool:
        return any(change.action != "noop" for change in self.changes)

    @property
    def adoptions(self) -> int:
        """Deployments apply takes over without changing anything but their ownership labels."""
        return sum(1 for change in self.changes if change.adopt)

    @property
    def has_writes(self) -> bool:
        """Whether apply writes anything: changes, or ownership labels of a takeover."""
        return self.has_changes or self.adoptions > 0

    def within(self, confirmed: Plan) -> bool:
        """Whether every change of this plan was already in `confirmed`, with the same result
        (what is left of a plan after another process applied part or all of it)."""

        def result(change: Change) -> tuple[str, str, bool, str]:
            after = json.dumps(change.after, sort_keys=True)
            return (change.kind, change.key, change.action == "delete", after)

        wanted = {result(c) for c in confirmed.changes if c.action != "noop"}
        return all(result(c) in wanted for c in self.changes if c.action != "noop")

    def summary(self) -> str:
        c = self.counts()
        taken = f", {self.adoptions} to take over" if self.adoptions else ""
        return (f"Plan: {c['create']} to add, {c['update']} to change, {c['delete']} to destroy"
                f"{taken}.")  # fmt: skip
