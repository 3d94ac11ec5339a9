"""Quiet hours in the customer's own time zone (else the store's)."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, time, timedelta
from typing import Any

from ..conf import crosssell_settings


def customer_zone(customer: Any, store: Any) -> zoneinfo.ZoneInfo:
    """The customer's time zone, else the store's, else UTC (an invalid name counts as none)."""
    for name in (getattr(customer, "timezone", ""), getattr(store, "timezone", "")):
        if name:
            try:
                return zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                continue
    return zoneinfo.ZoneInfo("UTC")


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def quiet_window() -> tuple[time, time] | None:
    """(start, end) of the quiet hours as local times, or None when there are none."""
    value = crosssell_settings.QUIET_HOURS
    if not value:
        return None
    return _clock(value["START"]), _clock(value["END"])


def out_of_quiet_hours(when: datetime, zone: zoneinfo.ZoneInfo) -> datetime:
    """``when`` (aware) if it is outside the quiet hours in ``zone``, else the end of those quiet
    hours (the next morning), as an aware UTC datetime."""
    window = quiet_window()
    when = when.astimezone(UTC)
    if window is None:
        return when
    start, end = window
    local = when.astimezone(zone)
    now = local.time().replace(tzinfo=None)
    if start > end:  # across midnight, e.g. 21:00-09:00
        if now >= start:
            day = local.date() + timedelta(days=1)
        elif now < end:
            day = local.date()
        else:
            return when
    elif start <= now < end:  # within one day, e.g. 12:00-14:00
        day = local.date()
    else:
        return when
    # a wall time that does not exist (a DST gap) is resolved forwards by the UTC round trip
    morning = datetime.combine(day, end, tzinfo=zone)
    return max(morning.astimezone(UTC), when)


def in_quiet_hours(when: datetime, zone: zoneinfo.ZoneInfo) -> bool:
    return out_of_quiet_hours(when, zone) != when.astimezone(UTC)
