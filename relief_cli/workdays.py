"""China's working-day calendar: statutory holidays and swapped weekend workdays (调休).

The `holidays` package knows the published schedules; rules.yaml adds the dates
of years it does not know yet (the next year's schedule is published each
November). The store keeps the calendar as a table so SQL can count working days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import Store

CALENDAR_YEARS_BEFORE = 3
CALENDAR_YEARS_AFTER = 2


@dataclass(frozen=True)
class WorkCalendar:
    extra_holidays: frozenset[dt.date] = frozenset()
    extra_workdays: frozenset[dt.date] = frozenset()

    @classmethod
    def from_settings(cls, calendar: object) -> WorkCalendar:
        return cls(frozenset(getattr(calendar, "holidays", ())), frozenset(getattr(calendar, "workdays", ())))

    @cached_property
    def _library(self) -> Any:
        import holidays  # loaded on first use: most commands never count working days

        return holidays.China()

    def knows_year(self, year: int) -> bool:
        """Whether the year's official schedule is known: published in the installed `holidays`
        (every year since 2008 has had swapped weekend workdays), or added in rules.yaml."""
        if any(d.year == year for d in self.extra_holidays | self.extra_workdays):
            return True
        import holidays

        return any(d.year == year for d in holidays.China(years=year).weekend_workdays)

    def is_workday(self, day: dt.date) -> bool:
        if day in self.extra_workdays:
            return True
        if day in self.extra_holidays:
            return False
        lib = self._library
        holiday = day in lib  # also fills the library's year, including its weekend_workdays
        if day in lib.weekend_workdays:
            return True
        return day.weekday() < 5 and not holiday

    def add_workdays(self, start: dt.date, n: int) -> dt.date:
        """The n-th working day after start (start itself does not count)."""
        day = start
        while n > 0:
            day += dt.timedelta(days=1)
            if self.is_workday(day):
                n -= 1
        return day

    def workdays_between(self, start: dt.date, end: dt.date) -> int:
        """Working days in (start, end]; negative when end is before start."""
        if end < start:
            return -self.workdays_between(end, start)
        return sum(self.is_workday(start + dt.timedelta(days=i)) for i in range(1, (end - start).days + 1))

    def rows(self, first: dt.date, last: dt.date) -> Iterable[tuple[str, int, int]]:
        """(day, is_workday, cumulative workday index) for every day in [first, last]."""
        idx = 0
        day = first
        while day <= last:
            work = self.is_workday(day)
            idx += work
            yield day.isoformat(), int(work), idx
            day += dt.timedelta(days=1)


# The calendar table, which the scan fills and the listings read (here, not in scan.py: a listing need not
# load the rule kinds).
def refresh_calendar(store: Store, as_of: dt.date) -> None:
    """The calendar table covers the alerts' years around the scan date."""
    settings = store.config.settings
    first_alert = store.conn.execute("SELECT MIN(raised_on) FROM alerts").fetchone()[0]
    first_year = min(as_of.year, int(first_alert[:4]) if first_alert else as_of.year) - CALENDAR_YEARS_BEFORE
    first, last = dt.date(first_year, 1, 1), dt.date(as_of.year + CALENDAR_YEARS_AFTER, 12, 31)
    cal = WorkCalendar.from_settings(settings.calendar)
    store.conn.execute("DELETE FROM calendar")
    store.conn.executemany("INSERT INTO calendar (day, workday, idx) VALUES (?, ?, ?)", cal.rows(first, last))


def ensure_calendar(store: Store, day: dt.date) -> None:
    """Make sure the calendar table covers the day and every alert (a write only when it does not)."""
    first, last = store.conn.execute("SELECT MIN(day), MAX(day) FROM calendar").fetchone()
    oldest = store.conn.execute("SELECT MIN(raised_on) FROM alerts").fetchone()[0]
    wanted_first = min(day.isoformat(), oldest or day.isoformat())
    if first is None or first > wanted_first or last < day.isoformat():
        with store.transaction():
            refresh_calendar(store, day)


def workdays_after(store: Store, day: str, n: int) -> str:
    """The n-th working day after day (ISO dates), from the calendar table."""
    return store.conn.execute(
        "SELECT MIN(day) FROM calendar WHERE idx = (SELECT idx FROM calendar WHERE day = ?) + ?", (day, n)
    ).fetchone()[0]
