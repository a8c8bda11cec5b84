"""A deployment's Run form: one labelled field per parameter of `parameter_openapi_schema`
(text, number as text, a choice for enums and booleans, JSON for objects, arrays and anything
else), and reading it back: the typed values, checked by the same parameter checks the API
makes (`params.parameter_issues`), each problem placed at its field. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flowplan.server.params import parameter_issues
from flowplan.server.ui_html import Safe, join, render

PREFIX = "p."  # form field names: p.<parameter>


def _resolve(schema: dict[str, Any], prop: Any) -> dict[str, Any]:
    """A property's schema with a local `$ref` (and a one-branch `allOf`) followed."""
    if not isinstance(prop, dict):
        return {}
    if len(prop.get("allOf") or []) == 1:
        prop = {**prop, **prop["allOf"][0]}
    found: dict[str, Any] = prop
    ref = found.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = schema
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return {**target, **{k: v for k, v in found.items() if k != "$ref"}}
    return found


def kind_of(prop: dict[str, Any]) -> str:
    """enum, boolean, integer, number, string or json."""
    if isinstance(prop.get("enum"), list):
        return "enum"
    kind = prop.get("type")
    if kind in ("boolean", "integer", "number", "string"):
        return str(kind)
    return "json"


def fields(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any], bool]]:
    """(name, resolved property schema, required) in the schema's order (`position` first)."""
    props = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    items = [(name, _resolve(schema, prop), name in required) for name, prop in props.items()]
    return sorted(items, key=lambda item: item[1].get("position", 0))


def _shown(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "json":
        return json.dumps(value, indent=2)
    if kind in ("boolean", "enum"):
        return json.dumps(value)
    return str(value)


def render_form(
    schema: dict[str, Any], defaults: Mapping[str, Any], submitted: Mapping[str, str],
    errors: Mapping[str, str],
) -> Safe:  # fmt: skip
    """The fields, showing what was submitted (after an error) or else the defaults."""
    parts = []
    focused = False
    for name, prop, required in fields(schema):
        kind = kind_of(prop)
        default = defaults.get(name, prop.get("default"))
        shown = submitted.get(name, _shown(default, kind))
        field_id = f"f-{name}"
        error = errors.get(name)
        first = error is not None and not focused  # the first invalid field takes the focus
        focused = focused or first
        attrs = render(' id="{id}" name="{name}"{req}{bad}', id=field_id, name=PREFIX + name,
                       req=Safe(" required") if required and default is None else Safe(""),
                       bad=render(' aria-invalid="true" aria-describedby="{id}-error"{focus}',
                                  id=field_id, focus=Safe(" autofocus") if first else Safe(""))
                       if error else Safe(""))  # fmt: skip
        if kind in ("enum", "boolean"):
            choices = prop["enum"] if kind == "enum" else [True, False]
            options = [render('<option value="">(not set)</option>')] + [
                render('<option value="{v}"{sel}>{label}</option>', v=json.dumps(choice),
                       label=str(choice) if kind == "enum" else json.dumps(choice),
                       sel=Safe(" selected") if json.dumps(choice) == shown else Safe(""))
                for choice in choices
            ]  # fmt: skip
            control = render("<select{attrs}>{options}</select>", attrs=attrs,
                             options=join(options))  # fmt: skip
        elif kind == "json":
            control = render('<textarea{attrs} rows="4" spellcheck="false">{v}</textarea>',
                             attrs=attrs, v=shown)  # fmt: skip
        else:
            mode = {"integer": "numeric", "number": "decimal"}.get(kind, "text")
            control = render('<input type="text" inputmode="{mode}"{attrs} value="{v}">',
                             mode=mode, attrs=attrs, v=shown)  # fmt: skip
        label = prop.get("title") or name
        parts.append(render(
            '<div class="field{cls}"><label for="{id}">{label}{req} <small>{kind}</small></label>'
            "{control}{desc}{error}</div>",
            cls=" invalid" if error else "", id=field_id, label=label, kind=kind_label(prop),
            req=Safe(' <abbr class="req" title="required">*</abbr>') if required else Safe(""),
            control=control,
            desc=render('<p class="desc">{d}</p>', d=prop["description"])
            if prop.get("description") else Safe(""),
            error=render('<p class="error" id="{id}-error" role="alert">{e}</p>', id=field_id,
                         e=error) if error else Safe(""),
        ))  # fmt: skip
    if not parts:
        return render('<p class="empty">This flow takes no parameters.</p>')
    return join(parts)


def kind_label(prop: dict[str, Any]) -> str:
    kind = kind_of(prop)
    if kind == "json":
        return str(prop.get("type") or "JSON") + " (JSON)"
    return "choice" if kind == "enum" else kind


def read_form(
    schema: dict[str, Any],
    defaults: Mapping[str, Any],
    form: Mapping[str, str],
    check: bool = True,
) -> tuple[dict[str, Any], dict[str, str]]:
    """(the parameters given, errors by field). An empty field is not given: the deployment's
    default applies. The merged values are checked as the API checks them (when `check`: the
    deployment enforces its schema)."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    known = {name: prop for name, prop, _ in fields(schema)}
    for name, prop in known.items():
        text = form.get(PREFIX + name, "").strip()
        if not text:
            continue
        kind = kind_of(prop)
        try:
            values[name] = _parse(text, kind)
        except ValueError as exc:
            errors[name] = str(exc)
    if errors or not known or not check:
        return values, errors
    for where, message in parameter_issues(schema, {**defaults, **values}):
        name = where.split(".")[0]
        if name == "parameters" and message.startswith("missing required key "):
            name = message.split("'")[1] if "'" in message else name
            message = "required: give a value"
        errors.setdefault(name if name in known else "parameters", message)
    return values, errors


def _parse(text: str, kind: str) -> Any:
    if kind == "string":
        return text
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected a whole number, got {text!r}") from None
    if kind == "number":
        try:
            return float(text) if any(c in text for c in ".eE") else int(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
