"""`flowplan init`: start a project from a recipe (local, git, docker, docker-git, kubernetes)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from flowplan import console
from flowplan.errors import UsageError

_ABOUT = {"repository": "the git repository workers clone, e.g. https://github.com/org/repo",
          "branch": "the branch workers clone, e.g. main"}  # fmt: skip


def parse_fields(fields: list[str]) -> dict[str, str]:
    """`key=value` pairs, split at the first `=` (values may hold `=`, as base64 does)."""
    values = {}
    for field in fields:
        key, sep, value = field.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--field {field!r} is not key=value")
        values[key.strip()] = value
    return values


def init(
    name: str = typer.Option(None, "--name", help="The project's name (default: the folder's)."),
    recipe: str = typer.Option(
        None,
        "--recipe",
        help="local, git, docker, docker-git or kubernetes (default: inferred"
        " from the git remote and a Dockerfile).",
    ),
    field: list[str] = typer.Option(
        [], "--field", "-f", help="A recipe input as key=value (repeatable)."
    ),
) -> None:
    """Create prefect.yaml and .prefectignore from a recipe. Existing files are never
    overwritten: when prefect.yaml exists, nothing is written."""
    from flowplan.project.init import (
        infer_recipe,
        initialize_project,
        load_recipe,
        recipe_names,
        template_values,
        unfilled,
    )

    root = Path.cwd()
    inputs = parse_fields(field)
    chosen = recipe or infer_recipe(root)
    try:
        loaded = load_recipe(chosen)
    except ValueError:
        raise UsageError(
            f"unknown recipe {chosen!r}", hint="recipes: " + ", ".join(recipe_names())
        ) from None
    if not recipe:
        console.err(f"Using the {chosen!r} recipe ({loaded.description}).")
    missing = [key for key in loaded.required if key not in inputs]
    # what git would have told (repository, branch) is an input too when there is no remote
    missing += [key for key in unfilled(loaded, template_values(root, loaded, inputs))
                if key not in missing]  # fmt: skip
    extra = sorted(set(inputs) - set(loaded.required) - set(loaded.defaults)
                   - set(unfilled(loaded, {})))  # fmt: skip
    if extra:
        console.err(f"warning: inputs the {chosen!r} recipe does not use: {', '.join(extra)}",
                    "warning")  # fmt: skip
    if missing and not sys.stdin.isatty():
        raise UsageError(
            f"the {chosen!r} recipe needs: {', '.join(missing)} (no terminal to ask on)",
            hint=" ".join(f"--field {key}=..." for key in missing),
        )
    for key in missing:
        inputs[key] = typer.prompt(f"{key} ({loaded.required.get(key, _ABOUT.get(key, key))})")
    if (root / "prefect.yaml").exists():
        raise UsageError(f"{root / 'prefect.yaml'} already exists; nothing was written")
    try:
        written = initialize_project(name, chosen, inputs, root)
    except FileExistsError as exc:
        raise UsageError(f"{exc}; nothing was written") from None
    console.out(f"Created project in {root} with the following new files:")
    for path in written:
        console.out(f"  {path.relative_to(root)}")
    console.out("Next steps:")
    console.out("  flowplan deploy                      # pick a flow, a schedule and a pool")
    console.out("  flowplan worker start --pool <pool>  # run what you deployed")
    console.out("  flowplan deployment run <flow>/<deployment> --watch")
