"""Generated cron, interval and rrule schedules, with time zones, naive and aware anchors, and
windows that cross DST changes (in both hemispheres)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

ZONES = [None, "UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata",
         "America/Santiago", "Europe/London"]  # fmt: skip
# around the DST changes of 2026 (US: Mar 8 / Nov 1, EU: Mar 29 / Oct 25, AU: Apr 5 / Oct 4)
ANCHOR_DAYS = ["2026-03-07", "2026-03-28", "2026-10-24", "2026-10-31", "2026-04-04",
               "2026-10-03", "2026-06-15", "2026-01-10"]  # fmt: skip
MINUTES = ["0", "30", "*/15", "0,30", "5-10", "*/20", "45"]
HOURS = ["*", "2", "1-3", "*/6", "9", "0", "23", "2,14"]
DOMS = ["*", "*", "1", "1-7", "15", "28-31"]
MONTHS = ["*", "*", "3", "10,11", "1-6"]
DOWS = ["*", "*", "1", "0", "1-5", "6,0", "MON"]
INTERVALS = [60, 900, 3600, 5400, 43200, 86400, 90000, 172800, 604800, 93600, 129600, 183600]
RRULES = ["FREQ=DAILY", "FREQ=HOURLY;INTERVAL=5", "FREQ=WEEKLY;BYDAY=MO,FR",
          "FREQ=DAILY;BYHOUR=2,9;BYMINUTE=30", "FREQ=MONTHLY;BYMONTHDAY=1,15",
          "FREQ=DAILY;COUNT=5", "FREQ=MINUTELY;INTERVAL=90"]  # fmt: skip


def _start() -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from(ANCHOR_DAYS), st.integers(0, 47)).map(
        lambda p: (datetime.fromisoformat(p[0]).replace(tzinfo=UTC)
                   + timedelta(minutes=30 * p[1])).isoformat()
    )  # fmt: skip


def cron() -> st.SearchStrategy[dict[str, Any]]:
    fields = st.tuples(*(st.sampled_from(f) for f in (MINUTES, HOURS, DOMS, MONTHS, DOWS)))
    return st.fixed_dictionaries({
        "kind": st.just("cron"), "cron": fields.map(" ".join), "day_or": st.booleans(),
        "timezone": st.sampled_from(ZONES),
    })  # fmt: skip


def interval() -> st.SearchStrategy[dict[str, Any]]:
    anchor = st.tuples(st.sampled_from(ANCHOR_DAYS), st.sampled_from(["00:00", "02:30", "09:15", "01:30", "03:00"]),
                       st.sampled_from(["", "+00:00", "+02:00", "-05:00"])).map(
        lambda p: f"{p[0]}T{p[1]}:00{p[2]}")  # fmt: skip
    return st.fixed_dictionaries({
        "kind": st.just("interval"), "interval": st.sampled_from(INTERVALS), "anchor": anchor,
        "timezone": st.sampled_from(ZONES),
    })  # fmt: skip


# the moments (UTC) the clocks of a zone change in 2026
CHANGES = {"Europe/Berlin": ["2026-03-29T01:00:00", "2026-10-25T01:00:00"],
           "America/New_York": ["2026-03-08T07:00:00", "2026-11-01T06:00:00"],
           "Australia/Sydney": ["2026-04-04T16:00:00", "2026-10-03T16:00:00"]}  # fmt: skip


def interval_near_change() -> st.SearchStrategy[dict[str, Any]]:
    """An interval of days and hours anchored within days of a clock change, the window
    starting before or after the anchor."""

    def build(p: tuple[str, str, int, int, int, str, int]) -> dict[str, Any]:
        zone, change, days, hours, shift, form, start_shift = p
        anchor = datetime.fromisoformat(change).replace(tzinfo=UTC) + timedelta(minutes=30 * shift)
        text = {"utc": anchor.isoformat(), "naive": anchor.replace(tzinfo=None).isoformat(),
                "zone": anchor.astimezone(ZoneInfo(zone)).isoformat()}[form]  # fmt: skip
        start = anchor + timedelta(minutes=30 * start_shift)
        return {"schedule": {"kind": "interval", "interval": days * 86400 + hours * 1800,
                             "anchor": text, "timezone": zone},
                "start": start.isoformat(), "days": 5, "count": 20}  # fmt: skip

    return (
        st.sampled_from(sorted(CHANGES))
        .flatmap(
            lambda zone: st.tuples(
                st.just(zone),
                st.sampled_from(CHANGES[zone]),
                st.integers(1, 3),
                st.sampled_from([1, 2, 4, 6, 24]),
                st.integers(-120, 120),
                st.sampled_from(["utc", "naive", "zone"]),
                st.integers(-300, 300),
            )
        )
        .map(build)
    )


def rrule() -> st.SearchStrategy[dict[str, Any]]:
    start = st.tuples(st.sampled_from(ANCHOR_DAYS), st.sampled_from(["T020000", "T093000"])).map(
        lambda p: p[0].replace("-", "") + p[1]
    )
    text = st.tuples(start, st.sampled_from(RRULES)).map(
        lambda p: f"DTSTART:{p[0]}\nRRULE:{p[1]}")  # fmt: skip
    return st.fixed_dictionaries({
        "kind": st.just("rrule"), "rrule": text, "timezone": st.sampled_from(ZONES),
    })  # fmt: skip


def cases() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(_cases(), interval_near_change())


def _cases() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({
        "schedule": st.one_of(cron(), interval(), rrule()), "start": _start(),
        "days": st.integers(1, 4), "count": st.sampled_from([5, 20, 50]),
    })  # fmt: skip
