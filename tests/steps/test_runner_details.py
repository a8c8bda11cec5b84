"""The step runner's details (steps/runner.py, masking.py) and the placeholder syntax
(templating.py): what is echoed, what is masked, and each error's exact words."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowplan import masking
from flowplan.errors import InvalidInput, StepExecutionError
from flowplan.masking import MASK
from flowplan.steps.runner import StepContext, block_field, render_inputs, run_steps
from flowplan.templating import (
    NOTSET,
    Placeholder,
    apply_values,
    kind_of,
    lookup,
    placeholders_in,
    resolve_references,
    secret_name,
    walk_placeholders,
)

SHELL = "prefect.deployments.steps.run_shell_script"


def unique(prefix: str) -> str:
    """A value no earlier test registered as a secret (the register is process-wide)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def context(secrets: dict[str, str] | None = None, **overrides: Any) -> StepContext:
    found = secrets or {}
    values: dict[str, Any] = {"variable": {"region": "eu"}.get, "secret": found.__getitem__,
                              "env": {"PATH": "/usr/bin:/bin"}}  # fmt: skip
    values.update(overrides)
    return StepContext(**values)


@pytest.fixture
def user_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module of steps the project defines, importable under a new name."""
    module = f"steps_{uuid.uuid4().hex}"
    (tmp_path / f"{module}.py").write_text(
        "async def later(n):\n    return {'n': n + 1}\n\n"
        "def fail(api_token, message):\n    raise ValueError(message)\n\n"
        "def nothing():\n    return 'not a mapping'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield module
    sys.modules.pop(module, None)


# -- masking ---------------------------------------------------------------------------------------


def test_values_of_four_characters_or_more_are_masked_everywhere() -> None:
    short, exact, inner = "ab1", unique("x")[:4], unique("token")
    for value in (short, exact, {"nested": {"deep": inner}}):
        masking.register(value)
    text = f"{short} {exact} {inner}"
    assert masking.clean(text) == f"{short} {MASK} {MASK}"
    assert masking.mask(text) == f"{short} {MASK} {MASK}"  # everything printed later too


def test_a_secret_containing_another_is_masked_whole() -> None:
    inner = unique("pw")
    outer = f"{inner}-and-more"
    masking.register(inner)
    masking.register(outer)
    assert masking.clean(f"[{outer}] [{inner}]") == f"[{MASK}] [{MASK}]"


def test_credentials_in_urls_are_masked() -> None:
    text = "cloning https://user:pa55@github.com/x.git and git+ssh://tok@host/y failed"
    assert masking.clean(text) == (
        f"cloning https://{MASK}@github.com/x.git and git+ssh://{MASK}@host/y failed"
    )
    assert masking.clean("mail me at someone@example.com") == "mail me at someone@example.com"


# -- the runner ------------------------------------------------------------------------------------


def test_each_step_is_announced_by_its_short_name_and_recorded() -> None:
    echoed: list[str] = []
    ran = context(echo=echoed.append)
    outputs = run_steps([None, {SHELL: {"id": "a", "script": "echo one"}}, {},
                         {SHELL: {"script": "echo two"}}], ran)  # fmt: skip
    assert echoed[0] == " > Running run_shell_script step..."
    assert echoed.count(" > Running run_shell_script step...") == 2
    assert ran.ran == [SHELL, SHELL]
    assert outputs["a"]["stdout"] == "one" and outputs["stdout"] == "two"


def test_upstream_outputs_are_kept_and_not_changed() -> None:
    upstream = {"earlier": {"x": 1}}
    outputs = run_steps([{SHELL: {"id": "b", "script": "echo {{ earlier.x }}"}}], context(),
                        upstream)  # fmt: skip
    assert outputs["earlier"] == {"x": 1} and outputs["b"]["stdout"] == "1"
    assert upstream == {"earlier": {"x": 1}}


def test_an_async_step_is_awaited_and_a_result_that_is_not_a_mapping_is_no_output(
    user_steps: str,
) -> None:
    outputs = run_steps([{f"{user_steps}.later": {"id": "l", "n": 1}},
                         {f"{user_steps}.nothing": {"id": "z"}}], context())  # fmt: skip
    assert outputs == {"l": {"n": 2}, "n": 2}


def test_what_a_step_raises_is_named_with_its_type_and_secrets_masked(user_steps: str) -> None:
    token, secret = unique("tok"), unique("blocksecret")
    step = {f"{user_steps}.fail": {"api_token": token,
                                   "message": f"bad {token} {{{{ prefect.blocks.secret.s }}}}"}}  # fmt: skip
    with pytest.raises(StepExecutionError) as caught:
        run_steps([step], context({"s": secret}))
    assert caught.value.message == (
        f"step '{user_steps}.fail' failed: ValueError: bad {MASK} {MASK}"
    )


def test_a_step_with_more_than_one_key() -> None:
    with pytest.raises(StepExecutionError) as caught:
        run_steps([{SHELL: {"script": "true"}}, {SHELL: {}, "x": 1, "y": 2}], context())
    assert caught.value.message == "step 2 has unexpected additional keys: x, y"


def test_an_output_no_earlier_step_made() -> None:
    with pytest.raises(StepExecutionError) as caught:
        run_steps([{SHELL: {"script": "echo {{ nope.x }}"}}], context())
    assert caught.value.message == (
        f"step '{SHELL}' failed: {{{{ nope.x }}}} is not an output of an earlier step"
    )


def test_inputs_are_rendered_outputs_then_references_then_environment() -> None:
    secret = unique("sec")
    rendered = render_inputs(
        {"a": "{{ o.v }}", "b": "{{ prefect.variables.region }}", "c": "{{ $HOME_DIR }}",
         "d": "{{ prefect.blocks.secret.s }}", "e": "{{ o.list }}"},
        {"o": {"v": 1, "list": [1, 2]}},
        context({"s": secret}, env={"HOME_DIR": "/home/x"}),
    )  # fmt: skip
    assert rendered == {"a": 1, "b": "eu", "c": "/home/x", "d": secret, "e": [1, 2]}
    assert masking.mask(secret) == MASK  # a secret read for a step is masked from then on


def test_an_environment_value_is_not_templated_again() -> None:
    rendered = render_inputs({"a": "{{ $X }}"}, {"o": {"v": 1}}, context(env={"X": "{{ o.v }}"}))
    assert rendered == {"a": "{{ o.v }}"}


def test_fields_of_a_json_secret_and_their_errors() -> None:
    secret = '{"user": "u", "auth": {"password": "p"}, "list": [1]}'
    assert block_field(secret, "creds", ["auth", "password"]) == "p"
    cases = [
        (
            ["nope"],
            "secret 'creds' has no field 'nope' in its top level (fields: user, auth, list)",
        ),
        (["auth", "x"], "secret 'creds' has no field 'x' in auth (fields: password)"),
        (["list", "0"], "secret 'creds' has no field '0' in list (fields: none)"),
        (["user", "a", "b"], "secret 'creds' has no field 'a' in user (fields: none)"),
        (
            ["auth", "password", "x"],
            "secret 'creds' has no field 'x' in auth.password (fields: none)",
        ),
    ]
    for fields, message in cases:
        with pytest.raises(StepExecutionError) as caught:
            block_field(secret, "creds", fields)
        assert caught.value.message == message
    with pytest.raises(StepExecutionError) as caught:
        block_field("plain", "pw", ["a", "b"])
    assert caught.value.message == "secret 'pw' is not JSON, so it has no field 'a.b'"


# -- placeholders ---------------------------------------------------------------------------------


def test_the_kind_of_a_placeholder() -> None:
    assert [kind_of(n) for n in ("$X", "prefect.blocks.secret.x", "prefect.variables.v",
                                 "ctx.flow_run.id", "build.image", "prefect.other")] == [
        "env", "block", "variable", "context", "output", "output"]  # fmt: skip


def test_secret_names_and_their_errors() -> None:
    def named(name: str) -> str:
        return secret_name(Placeholder(name, "block", True))

    assert named("prefect.blocks.secret.db-pw") == "db-pw"
    assert named("prefect.blocks.secret.creds.user") == "creds"
    with pytest.raises(InvalidInput) as caught:
        named("prefect.blocks.secret")
    assert caught.value.message == (
        "{{ prefect.blocks.secret }}: a block reference needs a type and a name"
    )
    with pytest.raises(InvalidInput) as caught:
        named("prefect.blocks.aws-credentials.prod")
    assert caught.value.message == (
        "{{ prefect.blocks.aws-credentials.prod }}: 'aws-credentials' blocks are not available on"
        " the local store; only secret blocks are ('flowplan secret set NAME')"
    )


def test_placeholders_are_found_with_their_paths() -> None:
    value = {"a": ["x", "{{ $A }} and {{ b.c }}"], "d": {"e": "{{ ctx.x }}"}, "f": 1}
    assert [(path, p.name, p.kind, p.whole) for path, p in walk_placeholders(value, ("top",))] == [
        (("top", "a", 1), "$A", "env", False),
        (("top", "a", 1), "b.c", "output", False),
        (("top", "d", "e"), "ctx.x", "context", True),
    ]  # fmt: skip
    # as Prefect: only a string that is exactly the placeholder keeps the value's type
    assert [p.whole for p in placeholders_in("{{ x }}")] == [True]
    assert [p.whole for p in placeholders_in("  {{ x }} ")] == [False]


def test_lookup_by_dotted_path_and_index() -> None:
    values = {"a": {"b": [10, 20, {"c": "deep"}]}, "x.y": "flat"}
    assert lookup(values, "a.b[2].c") == lookup(values, "a.b.2.c") == "deep"
    assert lookup(values, "a.b[-1].c") == "deep"
    assert lookup(values, "a.b[-3]") == 10
    assert lookup(values, "x.y") == "flat"
    for missing in ("a.b[3]", "a.b[-4]", "a.c", "a.b.x", "a.b.X1", "a.b[0].c", "zz"):
        assert lookup(values, missing) is NOTSET, missing
    assert repr(NOTSET) == "NOTSET"


def test_a_whole_placeholder_without_a_value() -> None:
    assert apply_values("{{ a.b }}", {}, remove_notset=False) == "{{ a.b }}"
    assert apply_values("{{ a.b }}", {}) is NOTSET
    assert apply_values({"k": "{{ a.b }}", "j": 1}, {}) == {"j": 1}
    assert apply_values({"k": "{{ a.b }}"}, {}, remove_notset=False) == {"k": "{{ a.b }}"}
    assert apply_values(["{{ a.b }}", 1], {}) == [1]
    assert apply_values("x {{ a.b }}", {}) == "x "
    assert apply_values("x {{ a.b }}", {}, remove_notset=False) == "x {{ a.b }}"


def test_context_placeholders_are_outputs_of_the_run_unless_skipped() -> None:
    assert apply_values("{{ ctx.id }}", {"ctx": {"id": 7}}) == 7
    assert apply_values("run {{ ctx.id }}", {"ctx": {"id": 7}}) == "run 7"
    assert apply_values("run {{ ctx.id }}", {}, skip_prefixes=("ctx.",)) == "run {{ ctx.id }}"


def test_references_inside_text_and_whole() -> None:
    variables = {"list": [1, 2], "mapping": {"a": 1}, "n": 3}

    def block(placeholder: Placeholder) -> Any:
        return f"<{placeholder.name}>"

    resolve = lambda value: resolve_references(value, variables.get, block)  # noqa: E731
    assert resolve("{{ prefect.variables.list }}") == [1, 2]
    assert resolve("n={{ prefect.variables.n }} {{ prefect.variables.n }}") == "n=3 3"
    assert resolve("{{ prefect.variables.n }}{{ $HOME }}") == "3{{ $HOME }}"
    assert resolve("{{ prefect.variables.gone }}") == ""
    assert resolve(["{{ prefect.blocks.secret.x }}", 1]) == ["<prefect.blocks.secret.x>", 1]
    for name, kind in (("list", "list"), ("mapping", "dict")):
        with pytest.raises(InvalidInput) as caught:
            resolve(f"x {{{{ prefect.variables.{name} }}}}")
        assert caught.value.message == (
            f"{{{{ prefect.variables.{name} }}}} holds a {kind} and cannot be used for inline"
            " string substitution"
        )
