"""A run's job configuration as its worker starts it: secrets and variables resolved at run
time, the names of the secrets used passed on, and their values masked in the run."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from flowplan import masking
from flowplan.errors import FlowplanError, ObjectNotFound
from flowplan.runtime import run_config
from tests.runtime.helpers import deployment, store


def configuration(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    backend = store(tmp_path / "home")
    backend.set_secret("token", "t0ken-value")
    backend.set_secret("db", '{"user": "app", "password": "pw-123"}')
    backend.set_secret("listed", '["a", "b"]')
    backend.set_variable("region", "eu-west")
    made = deployment(backend, tmp_path, job_variables={"env": env})
    run = backend.create_flow_run(made.id)
    pool = backend.read_work_pool("pool")
    return dict(run_config.job_configuration(backend, pool, made, run).env)


def test_secrets_and_variables_are_resolved_and_the_secrets_used_named(tmp_path: Path) -> None:
    env = configuration(tmp_path, {
        "TOKEN": "{{ prefect.blocks.secret.token }}",
        "AGAIN": "Bearer {{ prefect.blocks.secret.token }}",
        "USER": "{{ prefect.blocks.secret.db.user }}",
        "LISTED": "{{ prefect.blocks.secret.listed }}",
        "REGION": "{{ prefect.variables.region }}",
    })  # fmt: skip
    assert env["TOKEN"] == "t0ken-value"
    assert env["AGAIN"] == "Bearer t0ken-value"
    assert env["USER"] == "app"
    assert env["LISTED"] == '["a", "b"]'  # JSON that is not an object is the secret's text
    assert env["REGION"] == "eu-west"
    assert env[run_config.SECRETS_ENV] == "token,db,listed"  # each once, in order of use


def test_a_secret_holding_an_object_is_given_whole(tmp_path: Path) -> None:
    env = configuration(tmp_path, {"DB": "{{ prefect.blocks.secret.db }}"})
    assert json.loads(env["DB"]) == {"user": "app", "password": "pw-123"}


def test_no_secrets_used_is_an_empty_list(tmp_path: Path) -> None:
    env = configuration(tmp_path, {"PLAIN": "x"})
    assert env["PLAIN"] == "x" and env[run_config.SECRETS_ENV] == ""


def test_a_missing_secret_is_an_error_naming_it_and_how_to_set_it(tmp_path: Path) -> None:
    with pytest.raises(FlowplanError) as caught:
        configuration(tmp_path, {"X": "{{ prefect.blocks.secret.nope }}"})
    assert str(caught.value) == (
        "the run's job variables use {{ prefect.blocks.secret.nope }}, but secret 'nope' does"
        " not exist (flowplan secret set nope)"
    )


def test_the_run_masks_the_values_of_the_secrets_it_was_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = store(tmp_path / "home")
    backend.set_secret("token", "t0ken-value-1")
    backend.set_secret("db", '{"user": "app-user-1", "password": "pw-123-xyz"}')
    backend.set_secret("unused", "never-given-value")
    monkeypatch.setenv(run_config.SECRETS_ENV, "token,,db,deleted-since")
    run_config.mask_run_secrets(backend)
    said = masking.mask("t0ken-value-1 pw-123-xyz never-given-value")
    assert "t0ken-value-1" not in said and "pw-123-xyz" not in said
    assert "never-given-value" in said


def test_a_secret_holding_json_that_is_not_an_object_is_its_text(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    backend.set_secret("quoted", '"text in quotes"')
    made = deployment(backend, tmp_path,
                      job_variables={"env": {"Q": "{{ prefect.blocks.secret.quoted }}"}})  # fmt: skip
    run = backend.create_flow_run(made.id)
    pool = backend.read_work_pool("pool")
    env = dict(run_config.job_configuration(backend, pool, made, run).env)
    assert env["Q"] == '"text in quotes"'  # quotes and all


def test_a_missing_field_of_a_secret_names_the_secret(tmp_path: Path) -> None:
    with pytest.raises(FlowplanError, match=r"^secret 'db' has no field 'nope' in its top level"):
        configuration(tmp_path, {"X": "{{ prefect.blocks.secret.db.nope }}"})


def test_the_runs_job_variables_go_over_the_deployments(tmp_path: Path) -> None:
    backend = store(tmp_path / "home")
    backend.set_secret("token", "t0ken-value")
    made = deployment(backend, tmp_path, job_variables={"env": {"A": "deployment", "B": "d"}})
    run = backend.create_flow_run(
        made.id, job_variables={"env": {"B": "{{ prefect.blocks.secret.token }}"}}
    )
    config = run_config.job_configuration(backend, backend.read_work_pool("pool"), made, run)
    assert config.env == {"A": "deployment", "B": "t0ken-value", run_config.SECRETS_ENV: "token"}


def test_a_secret_deleted_since_the_worker_read_it_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = store(tmp_path / "home")
    backend.set_secret("token", "t0ken-value-2")
    monkeypatch.setenv(run_config.SECRETS_ENV, "deleted-since,token")
    run_config.mask_run_secrets(backend)
    assert "t0ken-value-2" not in masking.mask("the t0ken-value-2")


class Reader:
    """Secrets as the run's channel gives them (the local store's own reads also mask what
    they read: this one does not, so what is masked is what `mask_run_secrets` did)."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets

    def read_secret_value(self, name: str) -> str:
        if name not in self.secrets:
            raise ObjectNotFound(f"secret {name!r} not found")
        return self.secrets[name]


def test_the_named_secrets_are_masked_in_the_run_and_nothing_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # values new to this process (`masking` keeps what it registered for the process's life,
    # and mutmut forks each mutant's tests from a process that ran them all once)
    token, user, password, unnamed = (f"{what}-{uuid.uuid4().hex}" for what in "tupn")
    reader = Reader({
        "token": token, "db": json.dumps({"user": user, "password": password}),
        "unnamed": unnamed,
    })  # fmt: skip
    monkeypatch.setenv(run_config.SECRETS_ENV, "gone,token,db")
    run_config.mask_run_secrets(reader)
    said = masking.mask(f"{token} {password} {user} {unnamed}")
    assert said.split() == [masking.MASK, masking.MASK, masking.MASK, unnamed]
    monkeypatch.delenv(run_config.SECRETS_ENV)
    run_config.mask_run_secrets(NoReads())  # none named: nothing read


class NoReads:
    def read_secret_value(self, name: str) -> str:
        raise AssertionError(f"read {name!r}")
