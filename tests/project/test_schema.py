from __future__ import annotations

import contextlib
import copy
from typing import Any

import jsonschema
import pytest

from flowplan.errors import ProjectFileError
from flowplan.project.loader import load_file
from flowplan.resources import project_schema
from flowplan.schema_validator import Validator
from tests.conftest import corpus_files

SCHEMA = project_schema()


def test_schema_is_valid_draft_2020_12_with_an_id() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["$id"].endswith("prefect.yaml.schema.json")


def _verdicts(document: Any) -> tuple[bool, bool]:
    """Whether flowplan and plain jsonschema find the document valid, after checking that
    flowplan's messages neither lose an error nor make one up: every raw error's path leads to
    a message, and every message sits at or below a raw error's path."""
    issues = Validator(SCHEMA).issues(document)
    raw = [
        tuple(e.absolute_path)
        for e in jsonschema.Draft202012Validator(SCHEMA).iter_errors(document)
    ]
    paths = [issue.path for issue in issues]
    assert all(any(p[: len(r)] == r for p in paths) for r in raw), (raw, paths)
    assert all(any(p[: len(r)] == r for r in raw) for p in paths), (raw, paths)
    return not issues, not raw


def _loadable() -> list[Any]:
    documents = []
    for path in corpus_files():
        with contextlib.suppress(ProjectFileError):  # broken YAML: covered by the corpus test
            documents.append(pytest.param(load_file(path).data, id=path.name))
    return documents


@pytest.mark.corpus
@pytest.mark.parametrize("document", _loadable())
def test_agrees_with_jsonschema_on_the_corpus(document: Any) -> None:
    ours, reference = _verdicts(document)
    assert ours == reference


BASE: dict[str, Any] = {
    "name": "p",
    "pull": [{"prefect.deployments.steps.set_working_directory": {"directory": "/x"}}],
    "deployments": [
        {
            "name": "d",
            "entrypoint": "f.py:f",
            "tags": ["a"],
            "work_pool": {"name": "pool", "job_variables": {"image": "x"}},
            "schedules": [{"cron": "0 * * * *", "active": True}],
            "concurrency_limit": {"limit": 2, "collision_strategy": "ENQUEUE"},
        }
    ],
}

MUTATIONS: list[tuple[str, Any]] = [
    ("deployments.0.tags", "a,b"),
    ("deployments.0.tags", [1]),
    ("deployments.0.work_pool.name", {"name": "x"}),
    ("deployments.0.schedules.0.catchup", False),
    ("deployments.0.concurrency_limit", 0),
    ("deployments.0.concurrency_limit", "{{ $LIMIT }}"),
    ("deployments.0.concurrency_limit", {"limit": 1, "collision_strategy": "DROP"}),
    ("deployments.0.concurrency_limit", {"collision_strategy": "ENQUEUE"}),
    ("deployments.0.paused", "yes"),
    ("deployments.0.paused", "{{ $PAUSED }}"),
    ("deployments.0.version_type", "vcs:svn"),
    ("deployments.0.job_variables", {}),
    ("pull.0", {"a.b": {}, "c.d": {}}),
    ("pull.0", {"prefect.deployments.steps.git_clone": {"branch": "main"}}),
    ("pull.0", {"prefect.deployments.steps.git_clone": {"repository": "r", "token": "t"}}),
    ("pull.0", {"my.custom.step": {"anything": 1}}),
    ("pull", {"prefect.deployments.steps.set_working_directory": {"directory": "/x"}}),
    ("pull", "not steps"),
    ("deployments", {"name": "x"}),
    ("work_pools", [{"name": "p", "type": "process", "queues": [{"name": "q", "priority": 0}]}]),
    ("x-anchors", {"anything": [1, 2]}),
    ("prefect-version", 3),
]


def _set(document: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    document = copy.deepcopy(document)
    target: Any = document
    parts = dotted.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    last = parts[-1]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return document


@pytest.mark.parametrize(("path", "value"), MUTATIONS, ids=[f"{p}={v!r}" for p, v in MUTATIONS])
def test_agrees_with_jsonschema_on_generated_documents(path: str, value: Any) -> None:
    ours, reference = _verdicts(_set(BASE, path, value))
    assert ours == reference


def test_base_document_is_valid() -> None:
    assert Validator(SCHEMA).issues(BASE) == []


def issue_texts(document: Any) -> list[tuple[str, str, str | None, bool]]:
    return [
        (".".join(map(str, i.path)), i.message, i.hint, i.soft)
        for i in Validator(SCHEMA).issues(document)
    ]


def test_messages_are_precise() -> None:
    assert issue_texts(_set(BASE, "deployments.0.tags", "a,b")) == [
        (
            "deployments.0.tags",
            "expected a list or null, got text ('a,b')",
            "write a list, e.g. tags: [etl, nightly]; Prefect splits a string into single characters",
            False,
        )
    ]
    assert issue_texts(_set(BASE, "deployments.0.concurrency_limit", 0)) == [
        ("deployments.0.concurrency_limit", "must be at least 1; got 0", None, False)
    ]
    assert issue_texts(_set(BASE, "deployments.0.paused", "yes")) == [
        (
            "deployments.0.paused",
            "expected null or a boolean or a {{ placeholder }}, got text ('yes')",
            None,
            False,
        )
    ]
    [(path, message, hint, soft)] = issue_texts(_set(BASE, "deployments.0.work_pol", {}))
    assert (path, message, hint, soft) == (
        "deployments.0.work_pol",
        "unknown key 'work_pol'",
        "did you mean 'work_pool'?",
        True,
    )
    [(path, message, _, soft)] = issue_texts(_set(BASE, "deployments.0.schedules.0.catchup", False))
    assert (message, soft) == ("unknown key 'catchup'", False)
    [(path, message, hint, _)] = issue_texts(_set(BASE, "pull.0", {"a.b": {}, "c.d": {}}))
    assert message == "has 2 keys (a.b, c.d); at most 1 allowed"
    assert hint and "exactly one key" in hint


def test_every_keyword_jsonschema_knows_works_and_a_broken_user_schema_checks_nothing() -> None:
    one_of = Validator({"oneOf": [{"type": "string"}, {"type": "integer"}]})
    assert one_of.issues("x") == [] and one_of.issues(1.5) != []
    assert Validator({"$ref": "#/$defs/missing"}, lenient=True).issues(1) == []
    with pytest.raises(Exception, match="missing"):
        Validator({"$ref": "#/$defs/missing"}).issues(1)


def _many(count: int, **changes: Any) -> dict[str, Any]:
    """BASE with `count` deployments that differ in their names; `changes` (index -> key ->
    value) alter some of them."""
    document = copy.deepcopy(BASE)
    template = document["deployments"][0]
    document["deployments"] = []
    for index in range(count):
        deployment = {**copy.deepcopy(template), "name": f"d{index}"}
        deployment.update(changes.get(f"d{index}", {}))
        document["deployments"].append(deployment)
    return document


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"d7": {"name": 7}},  # a value checked by type alone, of the wrong type
        {"d3": {"description": ["x"]}, "d9": {"description": None}},
        {"d2": {"tags": "a,b"}, "d5": {"tags": ["b"]}},  # a value checked further
        {"d4": {"work_pol": {}}},  # one more key
        {"d6": {"parameters": {"a": 1}}, "d8": {"parameters": "x"}},
        {"d1": {"schedules": [{"cron": "0 * * * *"}, {"cron": 5}]}},
    ],
    ids=["same", "name", "description", "tags", "key", "parameters", "schedules"],
)
def test_items_of_one_shape_checked_once_find_what_a_full_check_finds(
    changes: dict[str, Any],
) -> None:
    document = _many(12, **changes)
    full = Validator(SCHEMA).issues(document)
    assert Validator(SCHEMA, same_items=True).issues(document) == full
    assert bool(full) == bool(changes and changes != {"d6": {"parameters": {"a": 1}}})


def test_items_of_one_shape_are_checked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Of deployments that differ only in their names, the first is checked."""
    checked: list[str] = []
    kind = type(Validator(SCHEMA)._validator)
    descend = kind.descend

    def counting(self: Any, instance: Any, schema: Any, *args: Any, **kwargs: Any) -> Any:
        if schema == {"$ref": "#/$defs/deployment"}:
            checked.append(instance["name"])
        return descend(self, instance, schema, *args, **kwargs)

    monkeypatch.setattr(kind, "descend", counting)
    document = _many(50, d30={"tags": ["other"]})
    assert Validator(SCHEMA, same_items=True).issues(document) == []
    assert checked == ["d0", "d30"]
    checked.clear()
    assert Validator(SCHEMA).issues(document) == []
    assert checked == [f"d{i}" for i in range(50)]
