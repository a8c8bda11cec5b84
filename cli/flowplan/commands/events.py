"""`flowplan webhook ...`, `flowplan event ls`, `flowplan automation ls`: webhooks, events and
deployment triggers of the local store (served and evaluated by `flowplan server`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer

from flowplan import console, files
from flowplan.commands.common import YES, backend, confirm
from flowplan.commands.options import OUTPUT, Output
from flowplan.errors import InvalidInput

if TYPE_CHECKING:
    from flowplan.backends.local import LocalBackend

webhook_app = typer.Typer(help="Manage webhooks (POST /hooks/<slug> on flowplan server).",
                          no_args_is_help=True)  # fmt: skip
event_app = typer.Typer(help="Show events (runs' state changes, webhooks).", no_args_is_help=True)
automation_app = typer.Typer(help="Show deployment triggers and their firings.",
                             no_args_is_help=True)  # fmt: skip


def _local(*, changes: bool = False) -> LocalBackend:
    from flowplan.backends.local import LocalBackend

    chosen = backend(changes=changes)
    if not isinstance(chosen, LocalBackend):
        raise InvalidInput(
            "webhooks, events and deployment triggers are kept in the local store; the target"
            f" here is {chosen.target}",
            hint="unset FLOWPLAN_API_URL and PREFECT_API_URL; a Prefect server keeps its own"
            " automations ('prefect automation ls')",
        )
    return chosen


@webhook_app.command("create")
def webhook_create(
    name: str,
    template: str = typer.Option(
        ..., "--template", "-t",
        help="The event template (JSON with {{ body.x }}, {{ headers['h'] }}, {{ query.q }},"
        " {{ method }}), or @FILE to read it from a file.",
    ),
    description: str = typer.Option("", "--description", help="What the webhook is for."),
    slug: str = typer.Option(None, "--slug",
                             help="The URL's last part (default: an unguessable one)."),
) -> None:  # fmt: skip
    """Create a webhook: requests to /hooks/<slug> become events."""
    if template.startswith("@"):
        try:
            template = files.read_text(template[1:], limit=256 * 1024)
        except files.UnreadableFile as exc:
            raise InvalidInput(f"--template {template}: {exc.reason}") from None
    made = _local(changes=True).create_webhook(name, template, description=description,
                                               slug=slug)  # fmt: skip
    console.out(f"Created webhook {made.name!r}: POST /hooks/{made.slug}")


@webhook_app.command("ls")
def webhook_ls(output: Output = OUTPUT) -> None:
    """List webhooks (their slugs are secrets: whoever has one can send events)."""
    hooks = _local().read_webhooks()
    if output is Output.json:
        console.out_json_list({"id": h.id, "name": h.name, "slug": h.slug, "template": h.template,
                               "description": h.description, "enabled": h.enabled,
                               "created": h.created.isoformat()} for h in hooks)  # fmt: skip
        return
    if not hooks:
        console.err("No webhooks.")
        return
    console.table("Webhooks", ["Name", "URL path", "Description"],
                  [[h.name, f"/hooks/{h.slug}", h.description] for h in hooks])  # fmt: skip


@webhook_app.command("delete")
def webhook_delete(name: str, yes: bool = YES) -> None:
    """Delete a webhook (its URL stops answering)."""
    target = _local(changes=True)
    if name not in {hook.name for hook in target.read_webhooks()}:
        target.delete_webhook(name)  # raises: not found
    confirm(f"Delete webhook {name!r}?", yes)
    target.delete_webhook(name)
    console.out(f"Deleted webhook {name!r}.")


@event_app.command("ls")
def event_ls(
    name: str = typer.Option(None, "--name", help="An event name; may end in '*'."),
    resource: str = typer.Option(None, "--resource",
                                 help="A resource id (the event's own or a related one)."),
    limit: int = typer.Option(20, "--limit", min=1, help="At most this many, newest first."),
    output: Output = OUTPUT,
) -> None:  # fmt: skip
    """List events, newest first."""
    events = _local().read_events(limit=limit, name=name, resource=resource)
    if output is Output.json:
        console.out_json_list(event.as_json() for event in events)
        return
    if not events:
        console.err("No events.")
        return
    console.table("Events", ["Occurred", "Event", "Resource", "Id"], [
        [f"{e.occurred:%Y-%m-%d %H:%M:%S}", e.event, e.resource.get("prefect.resource.id", ""),
         e.id] for e in events])  # fmt: skip


@automation_app.command("ls")
def automation_ls(
    firings: bool = typer.Option(False, "--firings", help="List the firings instead: when,"
                                 " why, which event, which run."),
    limit: int = typer.Option(20, "--limit", min=1, help="Firings: at most this many."),
    output: Output = OUTPUT,
) -> None:  # fmt: skip
    """List deployment triggers (prefect.yaml's `triggers:`) and how often each fired."""
    target = _local()
    if firings:
        found = target.read_firings(limit=limit)
        if output is Output.json:
            console.out_json_list({"automation": f.automation, "deployment": f.deployment,
                                   "event_id": f.event_id, "event": f.event_name,
                                   "flow_run_id": f.flow_run_id, "fired": f.fired.isoformat(),
                                   "reason": f.reason, "error": f.error}
                                  for f in found)  # fmt: skip
            return
        if not found:
            console.err("No firings.")
            return
        console.table("Firings", ["Fired", "Automation", "Deployment", "Why", "Flow run"], [
            [f"{f.fired:%Y-%m-%d %H:%M:%S}", f.automation, f.deployment or "-", f.reason,
             f.flow_run_id or f"not created: {f.error}"] for f in found])  # fmt: skip
        return
    automations = target.read_automations()
    counts = target.firing_counts([a.key for a in automations])
    if output is Output.json:
        console.out_json_list({"name": a.name, "deployment": a.deployment,
                               "enabled": a.item.get("enabled", True),
                               "trigger": a.item["trigger"], "firings": counts.get(a.key,
                               (0, None))[0], "last_fired": counts.get(a.key, (0, None))[1]}
                              for a in automations)  # fmt: skip
        return
    if not automations:
        console.err("No deployment triggers (prefect.yaml's `triggers:`).")
        return
    rows = []
    for a in automations:
        trigger = a.item["trigger"]
        kind = trigger.get("type", "event")
        expect = ", ".join(trigger.get("expect") or [])
        what = (f"{trigger.get('posture', 'Reactive')} {expect}" if kind == "event"
                else f"{kind} of {len(trigger.get('triggers') or [])}")  # fmt: skip
        count, last = counts.get(a.key, (0, None))
        rows.append([a.name, a.deployment, what.strip(), json.dumps(trigger.get("match") or {}),
                     str(count), (last or "-")[:19].replace("T", " ")])  # fmt: skip
    console.table("Automations", ["Name", "Deployment", "Trigger", "Match", "Firings",
                                  "Last fired"], rows)  # fmt: skip
