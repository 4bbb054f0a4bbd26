"""Working days (工作日) and deadlines (期限), computed in Asia/Shanghai, stored in UTC.

Pure: no clock of its own, no I/O beyond reading the override file.

**Working days** follow the State Council's official arrangement of public holidays and make-up
working days (国务院办公厅关于部分节假日安排的通知), taken from the ``chinesecalendar`` package;
years it does not cover come from an override file::

    years:
      2027:
        holidays: [2027-01-01, "2027-02-06..2027-02-12"]   # days off (dates or ranges, inclusive)
        workdays: [2027-02-14]                            # make-up working days (调休上班)

A year named in the override file is taken from the file alone (it can correct the package);
any other day of that year is a working day exactly when it is Monday to Friday, because the file
states the whole arrangement. A day in a year neither covers raises `CalendarNotCovered`: the
engine turns it into an error event; the hub never guesses by weekday.

**Counting** follows Chinese practice (民法典 art. 201, 民事诉讼法 art. 85): the day on which the
clock starts is not counted (期间开始的日不计算在内); a limit ends at 24:00 of its last day (art. 203).
So a limit of *n* days (calendar or working) started on day *D* ends at 24:00 Asia/Shanghai of the
*n*-th (working) day after *D* — 16:00 UTC of that day.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import chinese_calendar
import yaml

SHANGHAI = ZoneInfo("Asia/Shanghai")
CLOCK_KINDS: tuple[str, ...] = ("calendar_days", "working_days", "hours", "before_event")
ClockKind = Literal["calendar_days", "working_days", "hours", "before_event"]
Unit = Literal["day", "month", "year"]


class CalendarNotCovered(Exception):
    """No official arrangement is known for ``year`` (neither the package nor the override file)."""

    def __init__(self, year: int) -> None:
        self.year = year
        super().__init__(
            f"the working-day calendar does not cover {year}: add the State Council's "
            f"arrangement for {year} to the calendar override file"
        )


class CalendarError(ValueError):
    """The override file is malformed; the message names the file, the year and the entry."""


def package_years() -> range:
    """The years the installed ``chinesecalendar`` covers."""
    years = [d.year for d in chinese_calendar.constants.holidays]
    return range(min(years), max(years) + 1)


class WorkingCalendar:
    """Which days are working days (工作日), per the official calendar and an optional override file."""

    def __init__(self, overrides_path: str | Path | None = None) -> None:
        self.overrides_path = Path(overrides_path) if overrides_path else None
        self._package_years = package_years()
        self.override_years: set[int] = set()
        self._holidays: set[date] = set()
        self._workdays: set[date] = set()
        if self.overrides_path is not None:
            self._load(self.overrides_path)

    def _load(self, path: Path) -> None:
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_DatesAsText) or {}  # a SafeLoader
        except OSError as e:
            raise CalendarError(f"{path}: cannot read: {e}") from e
        except yaml.YAMLError as e:
            raise CalendarError(f"{path}: not valid YAML: {e}") from e
        years = data.get("years") if isinstance(data, dict) else None
        if not isinstance(years, dict):
            raise CalendarError(
                f"{path}: expected a mapping 'years: {{YEAR: {{holidays: [...], workdays: [...]}}}}'"
            )
        for year, spec in years.items():
            if not isinstance(year, int) or not 1949 < year < 2200:
                raise CalendarError(f"{path}: year {year!r} is not a year")
            spec = spec or {}
            if not isinstance(spec, dict) or set(spec) - {"holidays", "workdays"}:
                raise CalendarError(f"{path}: year {year}: expected only 'holidays' and 'workdays' lists")
            holidays = set(_dates(spec.get("holidays") or [], path, year, "holidays"))
            workdays = set(_dates(spec.get("workdays") or [], path, year, "workdays"))
            for d in sorted(holidays & workdays):
                raise CalendarError(f"{path}: year {year}: {d} is both a holiday and a make-up working day")
            for d in sorted(workdays):
                if d.weekday() < 5:
                    raise CalendarError(
                        f"{path}: year {year}: workdays: {d} is a "
                        f"{d.strftime('%A')}; make-up working days fall on a weekend"
                    )
            self.override_years.add(year)
            self._holidays |= holidays
            self._workdays |= workdays

    def covers(self, year: int) -> bool:
        """Whether the calendar knows the official arrangement of ``year``."""
        return year in self.override_years or year in self._package_years

    def covered_years(self) -> list[int]:
        return sorted(set(self._package_years) | self.override_years)

    def is_workday(self, d: date) -> bool:
        """Whether ``d`` is a working day; `CalendarNotCovered` for a year nobody covers."""
        if isinstance(d, datetime):
            raise TypeError("is_workday takes a date; convert an instant with local_date() first")
        if d in self._workdays:
            return True
        if d in self._holidays:
            return False
        if d.year in self.override_years:
            return d.weekday() < 5
        if d.year not in self._package_years:
            raise CalendarNotCovered(d.year)
        try:
            return _official_workday(d)
        except NotImplementedError:  # pragma: no cover - the range above already says so
            raise CalendarNotCovered(d.year) from None

    def add_working_days(self, start: date, n: int) -> date:
        """The *n*-th working day after ``start`` (``start`` itself is not counted, whatever it is).

        The limit ends at 24:00 of the returned day. ``n == 0`` returns ``start``.
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        d, counted = start, 0
        while counted < n:
            d += timedelta(days=1)
            if self.is_workday(d):
                counted += 1
        return d

    def next_workday(self, d: date) -> date:
        """``d`` if it is a working day, else the first working day after it."""
        while not self.is_workday(d):
            d += timedelta(days=1)
        return d


@lru_cache(maxsize=1 << 14)
def _official_workday(d: date) -> bool:
    """The package's answer for a day, asked once: deadlines count the same days over and over."""
    return bool(chinese_calendar.is_workday(d))


class _DatesAsText(yaml.SafeLoader):
    """A safe loader that leaves dates as text, so a bad date gets a message naming its year."""


_DatesAsText.yaml_implicit_resolvers = {
    k: [(tag, regexp) for tag, regexp in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _dates(items: Iterable[Any], path: Path, year: int, key: str) -> Iterable[date]:
    if not isinstance(items, list):
        raise CalendarError(f"{path}: year {year}: {key} must be a list")
    for item in items:
        try:
            if isinstance(item, date) and not isinstance(item, datetime):
                yield item
            elif isinstance(item, str) and ".." in item:
                a, b = (date.fromisoformat(p.strip()) for p in item.split("..", 1))
                if b < a:
                    raise ValueError("the range ends before it starts")
                yield from (a + timedelta(days=i) for i in range((b - a).days + 1))
            elif isinstance(item, str):
                yield date.fromisoformat(item.strip())
            else:
                raise ValueError("expected a date YYYY-MM-DD or a range YYYY-MM-DD..YYYY-MM-DD")
        except ValueError as e:
            raise CalendarError(f"{path}: year {year}: {key}: {item!r}: {e}") from None


# -- instants and days -----------------------------------------------------------------------------
def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"instant {instant!r} is naive; the hub stores aware UTC instants")
    return instant


def local_date(at: date | datetime) -> date:
    """The Asia/Shanghai calendar day of an instant (a date is returned as is)."""
    if isinstance(at, datetime):
        return _aware(at).astimezone(SHANGHAI).date()
    return at


def end_of_day(d: date) -> datetime:
    """24:00 Asia/Shanghai at the end of ``d``, as an aware UTC instant (16:00 UTC of ``d``)."""
    return datetime.combine(d + timedelta(days=1), datetime.min.time(), SHANGHAI).astimezone(UTC)


def start_of_day(d: date) -> datetime:
    """00:00 Asia/Shanghai at the start of ``d``, as an aware UTC instant."""
    return datetime.combine(d, datetime.min.time(), SHANGHAI).astimezone(UTC)


def shift(d: date, n: int, unit: Unit = "day") -> date:
    """``d`` moved by ``n`` days, months or years (negative: back).

    Months and years end on the corresponding day of the target month, or its last day when it has
    none (民法典 art. 202: 到期月的对应日为期间的最后一日；没有对应日的，为月末日).
    """
    if unit == "day":
        return d + timedelta(days=n)
    months = n * 12 if unit == "year" else n
    if unit not in ("month", "year"):
        raise ValueError(f"unit {unit!r} is not one of day, month, year")
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, _stdlib_calendar.monthrange(year, month)[1]))


def due(
    kind: ClockKind | str,
    length: int,
    start: date | datetime | None,
    calendar: WorkingCalendar | None = None,
    *,
    before: date | datetime | None = None,
    unit: Unit = "day",
    roll_over_holidays: bool = False,
) -> datetime:
    """The instant (aware, UTC) at which a limit runs out.

    * ``calendar_days``: 24:00 Asia/Shanghai of the day ``length`` days (or months, years: ``unit``)
      after the local day of ``start``; ``length == 0`` is the end of the start day itself ("the
      same day"). With ``roll_over_holidays`` a last day that is not a working day moves to the next
      working day (民法典 art. 203); off by default.
    * ``working_days``: 24:00 Asia/Shanghai of the ``length``-th working day after the start day.
    * ``hours``: ``start`` + ``length`` hours, to the second (``start`` must be an instant).
    * ``before_event``: "at least ``length`` days before ``before``": 24:00 Asia/Shanghai at the
      end of the day ``length`` days (or months) before the local day of ``before``. An act any time
      on that day is on time; one on the next day is late. ``start`` is not used.

    A date as ``start`` stands for that Asia/Shanghai day (e.g. a judgment's effective date).
    Raises `CalendarNotCovered` when a day the computation needs is in a year nobody covers.
    """
    if length < 0:
        raise ValueError("length must be >= 0")
    if kind == "before_event":
        if before is None:
            raise ValueError("a before_event clock needs the date it counts back from (before=)")
        return end_of_day(shift(local_date(before), -length, unit))
    if start is None:
        raise ValueError(f"a {kind} clock needs its start")
    if kind == "hours":
        if not isinstance(start, datetime):
            raise ValueError("an hours clock needs a start instant, not a date")
        return _aware(start).astimezone(UTC) + timedelta(hours=length)
    day = local_date(start)
    if kind == "calendar_days":
        last = shift(day, length, unit)
        if roll_over_holidays:
            if calendar is None:
                raise ValueError("rolling over holidays needs a WorkingCalendar")
            last = calendar.next_workday(last)
        return end_of_day(last)
    if kind == "working_days":
        if calendar is None:
            raise ValueError("a working_days clock needs a WorkingCalendar")
        if unit != "day":
            raise ValueError("a working_days clock counts days")
        return end_of_day(calendar.add_working_days(day, length))
    raise ValueError(f"clock {kind!r} is not one of {', '.join(CLOCK_KINDS)}")
