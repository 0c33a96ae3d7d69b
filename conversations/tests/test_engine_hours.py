"""Working-hours arithmetic: open or closed at a moment, and the start of a closed window."""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from conversations.engine.hours import Interval, closed_since

KOLKATA = ZoneInfo("Asia/Kolkata")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS_9_TO_6 = [Interval(day, time(9), time(18)) for day in range(5)]


def at(tz, *args) -> datetime:
    return datetime(*args, tzinfo=tz)


def test_open_inside_an_interval_closed_outside():
    assert closed_since(schedule=WEEKDAYS_9_TO_6, tz=KOLKATA, at=at(KOLKATA, 2030, 1, 7, 9, 0)) is None  # Monday
    assert closed_since(schedule=WEEKDAYS_9_TO_6, tz=KOLKATA, at=at(KOLKATA, 2030, 1, 7, 17, 59)) is None
    closed = closed_since(schedule=WEEKDAYS_9_TO_6, tz=KOLKATA, at=at(KOLKATA, 2030, 1, 7, 18, 0))
    assert closed == at(KOLKATA, 2030, 1, 7, 18, 0)


def test_one_closed_window_has_one_start_from_evening_to_morning():
    evening = closed_since(schedule=WEEKDAYS_9_TO_6, tz=KOLKATA, at=at(KOLKATA, 2030, 1, 7, 21, 0))
    night = closed_since(schedule=WEEKDAYS_9_TO_6, tz=KOLKATA, at=at(KOLKATA, 2030, 1, 8, 3, 0))
    morning = closed_since(schedule=WEEKDAYS_9_TO_6, tz=KOLKATA, at=at(KOLKATA, 2030, 1, 8, 8, 59))
    assert evening == night == morning == at(KOLKATA, 2030, 1, 7, 18, 0)
    next_evening = closed_since(schedule=WEEKDAYS_9_TO_6, tz=KOLKATA, at=at(KOLKATA, 2030, 1, 8, 19, 0))
    assert next_evening == at(KOLKATA, 2030, 1, 8, 18, 0)


def test_the_weekend_is_one_window_from_friday_evening():
    friday_close = at(KOLKATA, 2030, 1, 11, 18, 0)
    assert closed_since(schedule=WEEKDAYS_9_TO_6, tz=KOLKATA, at=at(KOLKATA, 2030, 1, 12, 12, 0)) == friday_close
    assert closed_since(schedule=WEEKDAYS_9_TO_6, tz=KOLKATA, at=at(KOLKATA, 2030, 1, 14, 8, 0)) == friday_close


def test_an_interval_past_midnight_belongs_to_the_day_it_starts():
    late = [Interval(4, time(22), time(2))]  # Friday 22:00 to Saturday 02:00
    assert closed_since(schedule=late, tz=KOLKATA, at=at(KOLKATA, 2030, 1, 12, 1, 30)) is None
    assert closed_since(schedule=late, tz=KOLKATA, at=at(KOLKATA, 2030, 1, 12, 2, 0)) == at(KOLKATA, 2030, 1, 12, 2, 0)


def test_equal_times_mean_open_all_day():
    all_day = [Interval(2, time(0), time(0))]  # Wednesday
    assert closed_since(schedule=all_day, tz=KOLKATA, at=at(KOLKATA, 2030, 1, 9, 23, 59)) is None
    assert closed_since(schedule=all_day, tz=KOLKATA, at=at(KOLKATA, 2030, 1, 10, 0, 0)) == at(KOLKATA, 2030, 1, 10)


def test_times_are_wall_clock_times_across_a_daylight_saving_change():
    # New York moves clocks forward on Sunday 2030-03-10; Monday 09:00 is then 13:00 UTC, not 14:00.
    monday = datetime(2030, 3, 11, 13, 0, tzinfo=UTC)
    assert closed_since(schedule=WEEKDAYS_9_TO_6, tz=NEW_YORK, at=monday) is None
    assert closed_since(schedule=WEEKDAYS_9_TO_6, tz=NEW_YORK, at=datetime(2030, 3, 11, 12, 59, tzinfo=UTC)) == (
        datetime(2030, 3, 8, 23, 0, tzinfo=UTC)  # Friday 18:00 EST
    )


def test_no_interval_means_always_open():
    assert closed_since(schedule=[], tz=KOLKATA, at=at(KOLKATA, 2030, 1, 7, 3, 0)) is None
