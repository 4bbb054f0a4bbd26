"""Working days and deadlines against dates computed by hand from the State Council's notices.

National Day 2025 (国办发明电〔2024〕12号): Oct 1 (Wed) – Oct 8 (Wed) off; make-up working days
Sun Sep 28 and Sat Oct 11.
Spring Festival 2026 (国办发明电〔2025〕7号): Feb 15 (Sun, 腊月二十八) – Feb 23 (Mon, 正月初七) off;
make-up working days Sat Feb 14 and Sat Feb 28.
Counting: the start day is not counted; a limit ends at 24:00 Asia/Shanghai = 16:00 UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from fengqiao.streams.calendar import (
    CalendarError,
    CalendarNotCovered,
    WorkingCalendar,
    due,
    end_of_day,
    local_date,
    package_years,
    shift,
)

CST = timezone(timedelta(hours=8))
DEMO_OVERRIDES = Path(__file__).resolve().parents[2] / "infra/deployments/demo/calendar-overrides.yaml"


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_package_covers_2004_to_2026(cal: WorkingCalendar) -> None:
    assert package_years() == range(2004, 2027)
    assert cal.covers(2026) and not cal.covers(2027)


def test_official_days_national_day_2025(cal: WorkingCalendar) -> None:
    assert date(2025, 9, 25).strftime("%a") == "Thu"
    assert cal.is_workday(date(2025, 9, 28))  # Sunday, make-up working day
    assert not cal.is_workday(date(2025, 9, 27))  # ordinary Saturday
    assert not any(cal.is_workday(date(2025, 10, d)) for d in range(1, 9))
    assert cal.is_workday(date(2025, 10, 11))  # Saturday, make-up working day


def test_three_working_days_from_the_thursday_before_national_day(cal: WorkingCalendar) -> None:
    # Start Thu 2025-09-25 (not counted): Fri 26 = 1, Sat 27 off, Sun 28 (make-up) = 2, Mon 29 = 3.
    assert cal.add_working_days(date(2025, 9, 25), 3) == date(2025, 9, 29)
    start = datetime(2025, 9, 25, 10, 0, tzinfo=CST)  # assigned 10:00 in Shanghai
    assert due("working_days", 3, start, cal) == utc(2025, 9, 29, 16, 0)
    # Five working days: 26 = 1, 28 = 2, 29 = 3, 30 = 4, Oct 1–8 off, Thu Oct 9 = 5.
    assert due("working_days", 5, start, cal) == utc(2025, 10, 9, 16, 0)


def test_working_days_across_national_day_count_the_make_up_saturday(cal: WorkingCalendar) -> None:
    # Start Tue 2025-09-30: Oct 1–8 off, Thu 9 = 1, Fri 10 = 2, Sat 11 (make-up) = 3.
    assert due("working_days", 3, utc(2025, 9, 30, 1, 0), cal) == utc(2025, 10, 11, 16, 0)


def test_start_day_is_the_shanghai_day(cal: WorkingCalendar) -> None:
    # 17:00 UTC on Thu Sep 25 is 01:00 on Fri Sep 26 in Shanghai: the clock starts from Friday.
    # Sun 28 (make-up) = 1, Mon 29 = 2, Tue 30 = 3.
    assert local_date(utc(2025, 9, 25, 17, 0)) == date(2025, 9, 26)
    assert due("working_days", 3, utc(2025, 9, 25, 17, 0), cal) == utc(2025, 9, 30, 16, 0)


def test_three_working_days_over_spring_festival_2026(cal: WorkingCalendar) -> None:
    # Start Thu 2026-02-12: Fri 13 = 1, Sat 14 (make-up) = 2, Feb 15–23 off, Tue 24 = 3.
    assert cal.add_working_days(date(2026, 2, 12), 3) == date(2026, 2, 24)
    assert due("working_days", 3, datetime(2026, 2, 12, 9, 30, tzinfo=CST), cal) == utc(2026, 2, 24, 16, 0)


def test_ten_working_days_over_spring_festival_2026(cal: WorkingCalendar) -> None:
    # Start Thu 2026-02-12: 13 = 1, Sat 14 = 2, (15–23 off), 24 = 3, 25 = 4, 26 = 5, 27 = 6,
    # Sat 28 (make-up) = 7, (Sun Mar 1 off), Mon Mar 2 = 8, 3 = 9, Wed Mar 4 = 10.
    # A weekday guess would have said Thu Feb 26.
    assert due("working_days", 10, utc(2026, 2, 12, 2, 0), cal) == utc(2026, 3, 4, 16, 0)


def test_uncovered_year_raises(cal: WorkingCalendar) -> None:
    with pytest.raises(CalendarNotCovered) as e:
        cal.is_workday(date(2027, 1, 4))
    assert e.value.year == 2027
    # Mon 2026-12-28 + 5 working days reaches into 2027: 29 = 1, 30 = 2, 31 = 3, Jan 1 2027 = ?
    with pytest.raises(CalendarNotCovered, match="2027"):
        due("working_days", 5, utc(2026, 12, 28, 2, 0), cal)
    # A limit that ends before the uncovered year still works.
    assert due("working_days", 3, utc(2026, 12, 28, 2, 0), cal) == utc(2026, 12, 31, 16, 0)


def test_override_file_covers_a_year(tmp_path: Path) -> None:
    # Test data, not an official arrangement: Jan 1–3 2027 off (Fri–Sun), Sat Feb 6 a make-up day.
    path = tmp_path / "calendar.yaml"
    path.write_text(
        "years:\n  2027:\n    holidays: ['2027-01-01..2027-01-03', 2027-02-10]\n    workdays: [2027-02-06]\n",
        encoding="utf-8",
    )
    cal = WorkingCalendar(path)
    assert cal.covers(2027) and 2027 in cal.covered_years()
    assert not cal.is_workday(date(2027, 1, 1))
    assert cal.is_workday(date(2027, 1, 4))
    assert cal.is_workday(date(2027, 2, 6)) and not cal.is_workday(date(2027, 2, 10))
    assert not cal.is_workday(date(2027, 1, 9))  # an unlisted Saturday of a listed year
    # Mon 2026-12-28: 29 = 1, 30 = 2, 31 = 3, Jan 1–3 off, Mon Jan 4 = 4, Tue Jan 5 = 5.
    assert due("working_days", 5, utc(2026, 12, 28, 2, 0), cal) == utc(2027, 1, 5, 16, 0)
    with pytest.raises(CalendarNotCovered):
        cal.is_workday(date(2028, 1, 3))


def test_override_wins_over_the_package(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text("years:\n  2026:\n    holidays: [2026-03-02]\n", encoding="utf-8")
    cal = WorkingCalendar(path)
    assert not cal.is_workday(date(2026, 3, 2))
    assert not cal.is_workday(date(2026, 2, 14))  # the file states 2026 alone: no make-up day listed


def test_demo_override_file_loads() -> None:
    assert not WorkingCalendar(DEMO_OVERRIDES).override_years


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("years:\n  2027:\n    holidays: [2027-02-31]\n", r"year 2027: holidays: '2027-02-31'"),
        ("years:\n  2027:\n    workdays: [2027-02-03]\n", r"2027-02-03 is a Wednesday"),
        ("years:\n  2027:\n    holidays: [2027-02-06]\n    workdays: [2027-02-06]\n", r"both a holiday"),
        ("years:\n  2027:\n    holidays: ['2027-02-09..2027-02-06']\n", r"ends before it starts"),
        ("years:\n  2027:\n    holiday: []\n", r"year 2027: expected only"),
        ("years:\n  next:\n    holidays: []\n", r"year 'next' is not a year"),
        ("holidays: []\n", r"expected a mapping 'years"),
    ],
)
def test_override_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CalendarError, match=message) as e:
        WorkingCalendar(path)
    assert str(path) in str(e.value)


def test_calendar_days(cal: WorkingCalendar) -> None:
    released = datetime(2026, 3, 10, 10, 0, tzinfo=CST)  # 02:00 UTC
    # Same day: 24:00 of Mar 10 in Shanghai.
    assert due("calendar_days", 0, released, cal) == utc(2026, 3, 10, 16, 0)
    # 30 days: Mar 10 not counted, Mar 11 = 1 … Apr 9 = 30.
    assert due("calendar_days", 30, released, cal) == utc(2026, 4, 9, 16, 0)
    # Released 01:30 on Mar 11 Shanghai time (17:30 UTC on Mar 10): the same day is Mar 11.
    assert due("calendar_days", 0, utc(2026, 3, 10, 17, 30)) == utc(2026, 3, 11, 16, 0)
    # A date stands for that Shanghai day: judgment effective Mon 2026-06-01, report within 10 days.
    assert due("calendar_days", 10, date(2026, 6, 1)) == utc(2026, 6, 11, 16, 0)


def test_months_and_years() -> None:
    assert shift(date(2026, 1, 31), 1, "month") == date(2026, 2, 28)
    assert shift(date(2026, 3, 31), -1, "month") == date(2026, 2, 28)
    assert shift(date(2024, 2, 29), 5, "year") == date(2029, 2, 28)
    assert due("calendar_days", 1, date(2026, 1, 31), unit="month") == utc(2026, 2, 28, 16, 0)
    assert due("calendar_days", 5, utc(2026, 3, 10, 2), unit="year") == utc(2031, 3, 10, 16, 0)


def test_roll_over_holidays(cal: WorkingCalendar) -> None:
    # Sep 8 2025 + 30 days = Wed Oct 8, a holiday: rolled to Thu Oct 9 (民法典 art. 203).
    start = utc(2025, 9, 8, 2)
    assert due("calendar_days", 30, start, cal) == utc(2025, 10, 8, 16, 0)
    assert due("calendar_days", 30, start, cal, roll_over_holidays=True) == utc(2025, 10, 9, 16, 0)


def test_hours() -> None:
    released = utc(2026, 3, 10, 2, 15, 30)
    assert due("hours", 24, released) == utc(2026, 3, 11, 2, 15, 30)
    assert due("hours", 48, datetime(2026, 3, 10, 23, 0, tzinfo=CST)) == utc(2026, 3, 12, 15, 0)
    with pytest.raises(ValueError, match="instant"):
        due("hours", 24, date(2026, 3, 10))


def test_before_event() -> None:
    # Release expected Wed 2026-05-20: a notice at least 30 days before is due by 24:00 of Apr 20
    # (Apr 20 + 30 days = May 20); issued on Apr 21 it is late.
    assert due("before_event", 30, None, before=date(2026, 5, 20)) == utc(2026, 4, 20, 16, 0)
    # Pick-up plan at least 3 days before: by 24:00 of May 17.
    assert due("before_event", 3, None, before=date(2026, 5, 20)) == end_of_day(date(2026, 5, 17))
    assert due("before_event", 1, None, before=date(2026, 5, 20), unit="month") == utc(2026, 4, 20, 16, 0)
    with pytest.raises(ValueError, match="before="):
        due("before_event", 3, utc(2026, 5, 1))


def test_bad_arguments(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="naive"):
        due("calendar_days", 1, datetime(2026, 3, 10, 10, 0))
    with pytest.raises(ValueError, match="not one of"):
        due("work_days", 1, utc(2026, 3, 10), cal)
    with pytest.raises(ValueError, match="WorkingCalendar"):
        due("working_days", 1, utc(2026, 3, 10))
    with pytest.raises(ValueError, match=">= 0"):
        due("calendar_days", -1, utc(2026, 3, 10))
    with pytest.raises(TypeError):
        cal.is_workday(utc(2026, 3, 10))
