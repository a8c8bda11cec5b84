"""Event triggers, evaluated as Prefect documents them, as pure functions over a trigger, its
buckets (a JSON-able dict the store keeps) and one event or the clock.

- An event counts only if its resource fits `match` and its related resources fit
  `match_related`. `for_each` splits the counting into buckets by those resource labels.
- Reactive: an event named in `expect` (any event when `expect` is empty) adds one to its
  bucket; `threshold` of them (within `within` seconds of the first, when `within` > 0) fire.
  With `after`, a bucket counts only once one of those events was seen; it starts over after
  each firing.
- Proactive: a bucket opens at an `after` event (without `after`: when evaluation starts, and
  again after each window); if fewer than `threshold` expected events came within `within`
  seconds, it fires when the window closes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flowplan.domain.events import Event, names_match, related_matches, resource_matches


@dataclass(frozen=True)
class Firing:
    key: str  # what makes this firing unique for its automation (the event id, or the window)
    event: Event | None  # the triggering event (None: a proactive window without `after`)
    reason: str


def _fits(trigger: Mapping[str, Any], event: Event) -> bool:
    return resource_matches(trigger.get("match") or {}, event.resource) and related_matches(
        trigger.get("match_related") or {}, event
    )


def _bucket_key(trigger: Mapping[str, Any], event: Event) -> str:
    labels = trigger.get("for_each") or []
    return json.dumps([event.resource.get(label) for label in labels]) if labels else ""


def _threshold(trigger: Mapping[str, Any]) -> int:
    return int(trigger.get("threshold") or 1)


def _within(trigger: Mapping[str, Any]) -> float:
    return float(trigger.get("within") or 0)


def on_event(trigger: Mapping[str, Any], buckets: dict[str, Any], event: Event) -> list[Firing]:
    """Count one event into `buckets` (changed in place); the firings it causes."""
    if not _fits(trigger, event):
        return []
    after, expect = trigger.get("after") or [], trigger.get("expect") or []
    proactive = trigger.get("posture") == "Proactive"
    # a proactive trigger without `after` watches one window (on_clock opens it)
    key = "" if proactive and not after else _bucket_key(trigger, event)
    bucket = buckets.get(key)
    when = event.occurred.isoformat()
    is_expected = not expect or names_match(expect, event.event)
    if after and names_match(after, event.event) and not (expect and is_expected):
        if bucket is None or not bucket.get("armed"):
            buckets[key] = {"armed": True, "count": 0, "start": when if proactive else None,
                            "after": event.as_json()}  # fmt: skip
        return []
    if not is_expected:
        return []
    if after and (bucket is None or not bucket.get("armed")):
        return []
    if proactive:
        if bucket is not None:
            bucket["count"] = bucket.get("count", 0) + 1
        return []
    bucket = bucket if bucket is not None else {"count": 0, "start": None}
    within = _within(trigger)
    start = bucket.get("start")
    if (
        start
        and within > 0
        and (event.occurred - datetime.fromisoformat(start)).total_seconds() > within
    ):
        bucket["count"], bucket["start"] = 0, None
    bucket["count"] = bucket.get("count", 0) + 1
    bucket["start"] = bucket.get("start") or when
    if bucket["count"] >= _threshold(trigger):
        buckets.pop(key, None)
        count = _threshold(trigger)
        reason = (f"{event.event} on {event.resource.get('prefect.resource.id')}"
                  + (f" ({count} events)" if count > 1 else ""))  # fmt: skip
        return [Firing(event.id, event, f"Reactive: {reason}")]
    buckets[key] = bucket
    return []


def on_clock(trigger: Mapping[str, Any], buckets: dict[str, Any], now: datetime) -> list[Firing]:
    """Proactive windows that closed by `now` with too few expected events: their firings."""
    if trigger.get("posture") != "Proactive":
        return []
    within = _within(trigger)
    after = trigger.get("after") or []
    if not after and "" not in buckets:
        buckets[""] = {"count": 0, "start": now.isoformat()}
    fired = []
    for key, bucket in list(buckets.items()):
        start = bucket.get("start")
        if not start:
            continue
        opened = datetime.fromisoformat(start)
        if now < opened + timedelta(seconds=within):
            continue
        count = int(bucket.get("count", 0))
        if count < _threshold(trigger):
            expected = ", ".join(trigger.get("expect") or []) or "any event"
            source = bucket.get("after")
            event = _event_of(source) if source else None
            reason = (f"Proactive: {count} of {_threshold(trigger)} {expected} within"
                      f" {within:g} s" + (f" after {event.event}" if event else ""))  # fmt: skip
            fired.append(Firing(event.id if event else f"window {start}", event, reason))
        if after:
            del buckets[key]
        else:
            buckets[key] = {"count": 0, "start": now.isoformat()}
    return fired


def _event_of(data: Mapping[str, Any]) -> Event:
    return Event(data["id"], datetime.fromisoformat(data["occurred"]), data["event"],
                 dict(data["resource"]), list(data.get("related") or []),
                 dict(data.get("payload") or {}))  # fmt: skip


# -- compound and sequence triggers ------------------------------------------------------------


def on_event_composite(
    trigger: Mapping[str, Any], state: dict[str, Any], event: Event
) -> list[Firing]:
    """A compound trigger (`require`: all, any, or a number of its `triggers` fired within
    `within` seconds) or a sequence trigger (its `triggers` fired in order within `within`)."""
    children = [child for child in trigger.get("triggers") or () if isinstance(child, Mapping)]
    buckets = state.setdefault("children", {})
    fired: dict[str, str] = state.setdefault("fired", {})  # child index -> when it fired
    within = _within(trigger)
    if within > 0:
        for key, when in list(fired.items()):
            if (event.occurred - datetime.fromisoformat(when)).total_seconds() > within:
                del fired[key]
    sequence = trigger.get("type") == "sequence"
    for index, child in enumerate(children):
        key = str(index)
        if not on_event(child, buckets.setdefault(key, {}), event):
            continue
        if sequence and any(str(before) not in fired for before in range(index)):
            continue  # out of order: an earlier step has not fired
        fired[key] = event.occurred.isoformat()
    if sequence:
        done = len(children) > 0 and all(str(index) in fired for index in range(len(children)))
        need = len(children)
    else:
        require = trigger.get("require", "all")
        need = len(children) if require == "all" else 1 if require == "any" else int(require)
        done = len(fired) >= need > 0
    if not done:
        return []
    state["fired"] = {}
    kind = "Sequence" if sequence else "Compound"
    return [Firing(event.id, event, f"{kind}: {need} of {len(children)} triggers, the last on"
                                    f" {event.event}")]  # fmt: skip
