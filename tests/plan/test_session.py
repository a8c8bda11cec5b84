"""The apply lock and the apply session (plan/lock.py, plan/session.py) against the real store."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from flowplan.backends.local import LocalBackend
from flowplan.domain.specs import DeploymentSpec
from flowplan.errors import FlowplanError
from flowplan.plan.apply import Result
from flowplan.plan.compute import compute_plan
from flowplan.plan.lock import LOCK, TTL_SECONDS, _dead, _holder, apply_lock
from flowplan.plan.model import Change, Plan
from flowplan.plan.session import Hooks, apply_session, needs_build
from flowplan.plan.specs import BUILD_LABEL, OWNER_LABEL, PROJECT_LABEL, Desired
from flowplan.plan.target import read_actual
from flowplan.steps.predict import KNOWN_AFTER_BUILD

OWNED = {OWNER_LABEL: "flowplan", PROJECT_LABEL: "proj"}


def spec(name: str, **fields: Any) -> DeploymentSpec:
    return DeploymentSpec("etl", name, entrypoint="f.py:etl", work_pool_name="pool",
                          labels=OWNED, **fields)  # fmt: skip


def planned(store: LocalBackend, *specs: DeploymentSpec) -> Plan:
    return compute_plan(Desired("proj", deployments=specs), read_actual(store))


def gone_pid() -> int:
    """The pid of a process that has exited."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)  # fmt: skip
    return int(child.stdout)


# -- the lock -------------------------------------------------------------------------------------


def test_a_holder_names_the_host_the_process_and_a_nonce() -> None:
    first, second = _holder(), _holder()
    pattern = rf"{re.escape(socket.gethostname())}:{os.getpid()}:[0-9a-f]{{8}}"
    assert re.fullmatch(pattern, first) and re.fullmatch(pattern, second)
    assert first != second


def test_only_a_holder_on_this_host_whose_process_is_gone_is_dead() -> None:
    host = socket.gethostname()
    assert _dead(f"{host}:{gone_pid()}:abcd1234")
    assert _dead(f"{host}:{gone_pid()}")
    assert not _dead(f"{host}:{os.getpid()}:abcd1234")
    assert not _dead(f"{host}.other:{gone_pid()}:abcd1234")
    assert not _dead(f"{host}:pid:abcd1234")
    assert not _dead(f"{host}")
    assert not _dead("")


def test_the_lock_is_held_inside_and_released_after(store: LocalBackend) -> None:
    with apply_lock(store, 0) as holder:
        lease = store.read_lease(LOCK)
        assert lease is not None and lease.holder == holder
        assert (lease.expires - lease.acquired).total_seconds() == TTL_SECONDS
    assert store.read_lease(LOCK) is None


def test_the_lock_is_released_when_the_body_raises(store: LocalBackend) -> None:
    with pytest.raises(RuntimeError), apply_lock(store, 0):
        raise RuntimeError("boom")
    assert store.read_lease(LOCK) is None


def test_a_live_holder_makes_the_next_apply_wait_then_fail(store: LocalBackend) -> None:
    holder = f"{socket.gethostname()}:{os.getpid()}:feedbeef"
    lease = store.acquire_lease(LOCK, holder, 60)
    assert lease is not None
    with pytest.raises(FlowplanError) as caught, apply_lock(store, 0.25):
        pass
    assert caught.value.message == (
        f"another apply holds the lock on this target ({holder}, since"
        f" {lease.acquired:%Y-%m-%d %H:%M:%S} UTC); waited 0.25 s"
    )
    assert caught.value.hint == (
        "wait for it, raise --lock-timeout, or if that process is gone run 'flowplan force-unlock'"
    )
    assert store.read_lease(LOCK) == lease  # not released by the one that failed to take it


def test_a_lock_left_by_a_dead_process_on_this_host_is_taken_over(store: LocalBackend) -> None:
    store.acquire_lease(LOCK, f"{socket.gethostname()}:{gone_pid()}:deadbeef", 60)
    with apply_lock(store, 0) as holder:
        lease = store.read_lease(LOCK)
        assert lease is not None and lease.holder == holder


# -- the session ----------------------------------------------------------------------------------


def built_by_steps(change: Change) -> Change:
    after = change.after or {}
    return replace(change, after={**after, "labels": {**after["labels"], BUILD_LABEL: "b"}})


@pytest.mark.parametrize(
    ("action", "label", "expected"),
    [
        ("create", True, True),
        ("update", True, True),
        ("create", False, False),
        ("noop", True, False),
        ("delete", True, False),
    ],
)
def test_a_build_is_needed_only_for_a_changed_deployment_made_by_steps(
    store: LocalBackend, action: str, label: bool, expected: bool
) -> None:
    [change] = planned(store, spec("a")).changes
    change = replace(built_by_steps(change) if label else change, action=action)
    assert needs_build(Plan((change,))) is expected
    assert needs_build(Plan((replace(change, action="noop"), change))) is expected


def test_a_fresh_plan_is_applied_under_the_lock(store: LocalBackend) -> None:
    confirmed = planned(store, spec("a"), spec("b"))
    seen: list[Any] = []

    def again() -> Plan:
        seen.append(store.read_lease(LOCK))
        return planned(store, spec("a"), spec("b"))

    results: list[Result] = []
    done = apply_session(confirmed, store, saved=False, lock_timeout=0, fresh_plan=again,
                         hooks=Hooks(result=results.append))  # fmt: skip
    assert seen[0] is not None and store.read_lease(LOCK) is None
    assert [(r.change.key, r.ok) for r in done] == [("etl/a", True), ("etl/b", True)]
    assert sorted((r.change.key, r.ok) for r in results) == [("etl/a", True), ("etl/b", True)]


def test_a_plan_that_shrank_while_waiting_is_applied_and_reported(store: LocalBackend) -> None:
    confirmed = planned(store, spec("a"), spec("b"))
    apply_session(planned(store, spec("a")), store, saved=False, lock_timeout=0,
                  fresh_plan=lambda: planned(store, spec("a")))  # fmt: skip
    shrank: list[Plan] = []
    done = apply_session(confirmed, store, saved=False, lock_timeout=0,
                         fresh_plan=lambda: planned(store, spec("a"), spec("b")),
                         hooks=Hooks(shrank=shrank.append))  # fmt: skip
    assert [(r.change.action, r.change.key) for r in done] == [("create", "etl/b")]
    assert [p.counts() for p in shrank] == [{"create": 1, "update": 0, "delete": 0, "noop": 1}]


def test_an_unchanged_fresh_plan_is_not_reported_as_shrunk(store: LocalBackend) -> None:
    shrank: list[Plan] = []
    apply_session(planned(store, spec("a")), store, saved=False, lock_timeout=0,
                  fresh_plan=lambda: planned(store, spec("a")),
                  hooks=Hooks(shrank=shrank.append))  # fmt: skip
    assert shrank == []


def test_a_target_that_changed_beyond_the_plan_stops_the_apply(store: LocalBackend) -> None:
    confirmed = planned(store, spec("a"))
    with pytest.raises(FlowplanError) as caught:
        apply_session(confirmed, store, saved=False, lock_timeout=0,
                      fresh_plan=lambda: planned(store, spec("a", description="other")))  # fmt: skip
    assert (caught.value.message, caught.value.hint) == (
        "the target changed while waiting for the lock; nothing was applied",
        "run the command again to see the new plan",
    )
    assert store.read_deployments() == [] and store.read_lease(LOCK) is None


def test_a_stale_saved_plan_is_refused_naming_ten_objects(store: LocalBackend) -> None:
    names = [f"d{i:02}" for i in range(12)]
    saved = planned(store, *(spec(n) for n in names))
    apply_session(saved, store, saved=True, lock_timeout=0, fresh_plan=_unused)
    assert len(store.read_deployments()) == 12
    with pytest.raises(FlowplanError) as caught:
        apply_session(saved, store, saved=True, lock_timeout=0, fresh_plan=_unused)
    assert caught.value.message == (
        "the saved plan is stale: changed on the target since planning: "
        + ", ".join(f"etl/{n}" for n in names[:10])
    )
    assert caught.value.hint == "run 'flowplan plan' again"


def _unused() -> Plan:
    raise AssertionError("a saved plan is not planned again")


def test_a_build_replans_with_the_real_outputs_and_applies_that(store: LocalBackend) -> None:
    predicted = planned(store, spec("a", version=KNOWN_AFTER_BUILD))
    shown: list[Plan] = []
    done = apply_session(predicted, store, saved=True, lock_timeout=0, built=True,
                         fresh_plan=lambda: planned(store, spec("a", version="1.2")),
                         hooks=Hooks(built=shown.append))  # fmt: skip
    assert [c.after["version"] for c in shown[0].changes if c.after] == ["1.2"]
    assert [r.ok for r in done] == [True]
    assert store.read_deployment("etl/a").version == "1.2"


@pytest.mark.parametrize("saved", [True, False])
def test_values_only_a_build_knows_stop_an_apply_that_did_not_build(
    store: LocalBackend, saved: bool
) -> None:
    predicted = planned(store, spec("a", version=KNOWN_AFTER_BUILD), spec("b"))
    with pytest.raises(FlowplanError) as caught:
        apply_session(predicted, store, saved=saved, lock_timeout=0,
                      fresh_plan=lambda: predicted)  # fmt: skip
    assert (caught.value.message, caught.value.hint) == (
        "some values are only known after build, and the build steps did not run",
        "run 'flowplan apply' without --skip-build, or give the image tag explicitly",
    )
    assert store.read_deployments() == []


def test_an_unknown_value_in_an_unchanged_deployment_does_not_stop_it(store: LocalBackend) -> None:
    [change] = planned(store, spec("a", version=KNOWN_AFTER_BUILD)).changes
    noop = replace(change, action="noop")
    fresh: Callable[[], Plan] = lambda: Plan((noop, *planned(store, spec("b")).changes))  # noqa: E731
    done = apply_session(fresh(), store, saved=False, lock_timeout=0, fresh_plan=fresh)
    assert [(r.change.key, r.ok) for r in done] == [("etl/b", True)]
