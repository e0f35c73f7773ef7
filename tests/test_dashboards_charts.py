"""The pieces a panel is drawn with: weeks, percentiles, SVG charts with every label
escaped, and CSV cells no spreadsheet runs as a formula."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime

import pytest

from labledger.dashboards.charts import Bar, Series, bar_chart, line_chart, nice_top
from labledger.dashboards.panels import Table, table_csv
from labledger.dashboards.weeks import percentile, week_of, window

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


def _parsed(markup: str) -> ET.Element:
    """The chart as XML: it must be well formed, whatever its labels held. (The parser
    reads only what the test just drew: no entities, nothing from outside.)"""
    return ET.fromstring(markup)  # noqa: S314


@pytest.mark.parametrize(
    ("values", "share", "expected"),
    [
        ([1, 2, 3, 4], 0.5, 2.5),
        ([3, 1, 11], 0.5, 3),
        ([3, 1, 11], 0.9, 9.4),
        ([5], 0.9, 5),
        ([], 0.5, None),
    ],
)
def test_percentiles_interpolate_between_the_nearest_ranks(values, share, expected):
    found = percentile(values, share)
    assert found == pytest.approx(expected) if expected is not None else found is None


def test_a_window_is_whole_weeks_from_monday_ending_with_this_one():
    now = datetime(2026, 3, 18, 12, 0, tzinfo=UTC)
    span = window(3, now)
    assert span.mondays == (date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16))
    assert span.since == datetime(2026, 3, 2, tzinfo=UTC)
    assert week_of(datetime(2026, 3, 8, 23, 59, tzinfo=UTC)) == date(2026, 3, 2)
    assert [span.index(d) for d in (date(2026, 2, 23), date(2026, 3, 9), date(2026, 3, 23))] == [
        None,
        1,
        None,
    ]


def test_the_y_axis_tops_at_a_round_number():
    assert [nice_top(v) for v in (0, 0.3, 1, 3.6, 9.4, 11, 66.7)] == [1, 0.4, 1, 4, 10, 20, 80]


def test_every_label_of_a_bar_chart_is_escaped_and_it_is_one_accessible_image():
    markup = str(bar_chart(HOSTILE, [Bar(HOSTILE, 3), Bar("Released", 7)]))
    assert "<script" not in markup and "<img" not in markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup
    assert "style=" not in markup
    svg = _parsed(markup)
    assert svg.get("role") == "img"
    assert svg.get("aria-label") == HOSTILE
    assert svg.find(f"{SVG}title").text == HOSTILE
    assert svg.find(f"{SVG}desc").text == f"{HOSTILE}: 3; Released: 7"
    widths = [float(rect.get("width")) for rect in svg.iter(f"{SVG}rect")]
    assert widths[1] > widths[0] > 0


def test_a_line_chart_breaks_where_a_week_has_no_value():
    markup = str(
        line_chart(
            "Turnaround",
            ["2026-03-02", "2026-03-09", "2026-03-16", "2026-03-23"],
            [Series("Median", [3, None, 2, 1]), Series(HOSTILE, [9.4, 3.6, None, None])],
            unit="days",
        )
    )
    assert "<script" not in markup
    svg = _parsed(markup)
    paths = [p.get("d") for p in svg.iter(f"{SVG}path")]
    assert paths[0].count("M") == 2 and paths[0].count("L") == 1  # a gap, then two points
    assert paths[1].count("M") == 1 and paths[1].count("L") == 1
    points = [c.find(f"{SVG}title").text for c in svg.iter(f"{SVG}circle")]
    assert points[:3] == [
        "Median, 2026-03-02: 3 days",
        "Median, 2026-03-16: 2 days",
        "Median, 2026-03-23: 1 days",
    ]
    assert len(points) == 5
    assert svg.find(f"{SVG}desc").text.startswith("Median: 2026-03-02 3, 2026-03-09 none,")


def test_csv_cells_are_safe_in_a_spreadsheet():
    table = Table(
        ("State", "Share (%)"),
        (('=HYPERLINK("http://x")', 12.5), ("-5", None), ("Released", -5), ("@SUM(A1)", 0)),
    )
    assert table_csv(table).split("\r\n") == [
        "State,Share (%)",
        '"\'=HYPERLINK(""http://x"")",12.5',
        "'-5,",
        "Released,-5",
        "'@SUM(A1),0",
        "",
    ]
