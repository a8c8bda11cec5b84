"""What a plan can know of build and push outputs without running the steps.

`build_docker_image` and `push_docker_image` give `image_name`, `tag` and `image` from their
arguments when a tag is given, `git_clone` its `directory`; everything else is `(known after
build)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flowplan.steps.catalog import lookup
from flowplan.steps.mapping import split_step

KNOWN_AFTER_BUILD = "(known after build)"
_PREDICTABLE = {"build_docker_image", "push_docker_image", "git_clone"}


class Unknown(dict[str, Any]):
    """The outputs of a step that cannot be predicted: every key reads as unknown."""

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: str) -> Any:
        return KNOWN_AFTER_BUILD


def predict(
    steps: Sequence[Mapping[str, Any]], render: Callable[[Any, Mapping[str, Any]], Any]
) -> dict[str, Any]:
    """The output namespace the steps would produce, as far as it follows from their inputs.
    `render(arguments, outputs)` templates arguments the way the runner does (no secrets)."""
    outputs: dict[str, Any] = {}
    for step in steps:
        call = split_step(step)
        name, arguments, step_id = call.function, call.arguments, call.id
        info = lookup(name)
        if info is None or info.canonical not in _PREDICTABLE:
            known: dict[str, Any] = Unknown()
            for output in info.outputs if info else ():
                outputs[output] = KNOWN_AFTER_BUILD
        elif info.canonical == "git_clone":
            from flowplan.steps.builtin.git import clone_directory

            inputs = render(arguments, outputs)
            repository = inputs.get("repository")
            known = {"directory": clone_directory(repository, inputs.get("branch"),
                                                  inputs.get("clone_directory_name"))
                     if isinstance(repository, str) else KNOWN_AFTER_BUILD}  # fmt: skip
            outputs.update(known)
        else:
            inputs = render(arguments, outputs)
            image_name, tag = inputs.get("image_name"), inputs.get("tag")
            known = {
                "image_name": image_name,
                "tag": tag or KNOWN_AFTER_BUILD,
                "image": f"{image_name}:{tag}" if tag else KNOWN_AFTER_BUILD,
                "additional_tags": list(inputs.get("additional_tags") or []),
            }
            if info.canonical == "build_docker_image":
                known["image_id"] = KNOWN_AFTER_BUILD
            outputs.update(known)
        if step_id:
            outputs[step_id] = known
    return outputs


def unknown_in(value: Any) -> bool:
    if isinstance(value, str):
        return KNOWN_AFTER_BUILD in value
    if isinstance(value, Mapping):
        return any(unknown_in(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(unknown_in(item) for item in value)
    return False
