"""Generated work-pool base job templates, deployment job variables and run job variables, with
`{{ prefect.variables.x }}`, `{{ prefect.blocks.secret.x[.field] }}` and `{{ $ENV }}` references,
nested `env` mappings, dotted keys (`env.FOO`), nulls and values that are not text. Most values
fit the field they fill (text for `command`, a mapping of text for `labels`, ...); some do not,
and some name a secret, a field or a variable that does not exist."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

NAMES = ["command", "env", "labels", "name", "stream_output", "working_dir", "image", "x", "cfg"]
TEXT = [
    "{{ prefect.variables.region }}", "{{ prefect.variables.empty }}",
    "{{ prefect.variables.missing }}", "pre-{{ prefect.variables.region }}",
    "{{ prefect.variables.count }}/{{ prefect.variables.flag }}", " {{ prefect.variables.count }} ",
    "{{prefect.variables.region}}", "{{ prefect.blocks.secret.api-token }}",
    "Bearer {{ prefect.blocks.secret.api-token }}", "{{ prefect.blocks.secret.db.password }}",
    "{{ prefect.blocks.secret.db.user }}", "{{ prefect.blocks.secret.multi }}",
    "u={{ prefect.blocks.secret.db.user }};p={{ prefect.blocks.secret.db.password }}",
    "port {{ prefect.blocks.secret.db.port }}", "{{ prefect.blocks.secret.db.nested.k }}",
    "{{ $FP_ORACLE_A }}", "x-{{ $FP_ORACLE_A }}", "{{ $FP_ORACLE_MISSING }}",
    "a{{ $FP_ORACLE_MISSING }}b", "{{ $FP_ORACLE_EMPTY }}", "{{ image }}",
    "{{ $FP_ORACLE_A }}:{{ prefect.variables.count }}", "plain", "", "/tmp/work", "sub/dir",
    "./here", "{{ prefect.blocks.secret.api-token }}{{ prefect.blocks.secret.api-token }}",
]  # fmt: skip
OTHER = [
    "{{ prefect.variables.count }}", "{{ prefect.variables.flag }}", "{{ prefect.variables.cfg }}",
    "{{ prefect.variables.items }}", "{{ prefect.variables.ratio }}",
    "{{ prefect.variables.cfg }} inline", "{{ prefect.blocks.secret.db.port }}",
    "{{ prefect.blocks.secret.db.nested }}", "{{ prefect.blocks.secret.db }}",
    0, 1, 7, 2.5, True, False, None, ["a", 1], {"k": "v"},
]  # fmt: skip
REFUSED = ["{{ prefect.blocks.secret.db.nope }}", "{{ prefect.blocks.secret.absent }}",
           "{{ prefect.blocks.secret.api-token.field }}",
           "x {{ prefect.blocks.secret.db.nested }}"]  # fmt: skip
BOOLEAN = [True, False, "true", "False", "yes", "0", "t", "{{ prefect.variables.flag }}", 1, 0]
ENV_KEYS = ["A", "B", "TOKEN", "PATH_X"]


def text() -> st.SearchStrategy[Any]:
    return st.sampled_from(TEXT)


def anything() -> st.SearchStrategy[Any]:
    return st.one_of(text(), text(), st.sampled_from(OTHER), st.sampled_from(OTHER))


def sometimes(usual: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly `usual`; now and then any value, or a reference that cannot be resolved."""
    return st.one_of(*[usual] * 16, anything(), st.sampled_from(REFUSED))


def env_mappings() -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(ENV_KEYS), anything(), max_size=3)


def value_for(name: str) -> st.SearchStrategy[Any]:
    if name == "env":
        return sometimes(env_mappings())
    if name == "labels":
        return sometimes(st.dictionaries(st.sampled_from(["team", "tier"]), text(), max_size=2))
    if name == "stream_output":
        return sometimes(st.sampled_from(BOOLEAN))
    if name in ("cfg", "x"):
        return anything()
    return sometimes(text())


def job_variables() -> st.SearchStrategy[dict[str, Any]]:
    key = st.sampled_from([*NAMES, "env", "env", "env.A", "env.TOKEN", "labels.team"])
    pair = key.flatmap(lambda k: st.tuples(st.just(k), value_for(k.partition(".")[0])
                                           if "." not in k else sometimes(text())))  # fmt: skip
    return st.lists(pair, max_size=4, unique_by=lambda p: p[0]).map(dict)


def _configuration_value(name: str) -> st.SearchStrategy[Any]:
    whole = "{{ " + name + " }}"
    choices: list[Any] = [whole] * 6
    if name == "env":
        choices += [{"BASE": "b", "FROM_X": "{{ x }}", "TOKEN": "{{ prefect.blocks.secret.api-token }}"},
                    {"A": "{{ x }}"}, {}]  # fmt: skip
    elif name == "image":
        choices += [{"containers": [{"image": whole, "args": ["{{ x }}", "--flag"]}],
                     "cfg": "{{ cfg }}"}, f"registry/{whole}"]  # fmt: skip
    elif name == "command":
        choices += ["python -m app {{ x }}", "run {{ prefect.variables.region }}"]
    elif name in ("name", "x", "working_dir"):
        choices += [f"pre-{whole}", f"{whole}-{{{{ x }}}}"]
    return st.one_of(st.sampled_from(choices), st.sampled_from(choices), value_for(name))


def _default(name: str) -> st.SearchStrategy[Any]:
    return st.one_of(st.just("missing"), st.just("missing"), st.none(), value_for(name))


def templates() -> st.SearchStrategy[dict[str, Any]]:
    def build(chosen: list[tuple[str, Any, Any]]) -> dict[str, Any]:
        configuration = {name: value for name, value, _ in chosen}
        properties = {name: {} if default == "missing" else {"default": default}
                      for name, _, default in chosen}  # fmt: skip
        return {"job_configuration": configuration,
                "variables": {"type": "object", "properties": properties}}  # fmt: skip

    entry = st.sampled_from(NAMES).flatmap(
        lambda name: st.tuples(st.just(name), _configuration_value(name), _default(name))
    )
    return st.lists(entry, max_size=6, unique_by=lambda item: item[0]).map(build)


def cases() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({
        "template": templates(), "deployment": job_variables(), "run": job_variables(),
    })  # fmt: skip
