"""Charts as inline SVG, drawn on the server from a panel's numbers.

No script draws them: the pages run no script but the application's own
(the Content-Security-Policy), and a chart drawn on the server looks the same
in every browser, in print and in a screenshot. The SVG uses presentation
attributes only, never a ``style`` attribute, which that policy refuses.

Every text is escaped by construction: each element is a constant
``Markup`` template filled with ``Markup.format``, which escapes whatever is
not itself markup. Labels are configuration and state names, which an
administrator writes, so a state called ``<script>`` is drawn as those
characters. Each chart is one image to assistive technology (``role="img"``
with an ``aria-label``, a ``<title>``, and a ``<desc>`` that reads the
numbers out); the page prints the same numbers as a table beside it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from markupsafe import Markup

WIDTH = 640
#: Series colours (blue, orange, green: told apart with red-green colour blindness too),
#: with a dash pattern each, so that the lines differ in black and white as well.
COLOURS = ("#2458a6", "#c2410c", "#3f7d3a")
DASHES = ("none", "6 4", "2 3")
GRID = "#d5dbe3"
INK = "#1f2933"
#: Longest label drawn beside a bar; the full one is in the bar's title.
LABEL_CHARS = 28
#: Most labels under a line chart's x axis (every n-th is drawn when there are more).
X_LABELS = 8


@dataclass(frozen=True)
class Bar:
    label: str
    value: int | float


@dataclass(frozen=True)
class Series:
    """One line: a value per x label (None: nothing that week, a gap in the line)."""

    name: str
    values: Sequence[float | None]


_SVG = Markup(
    '<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="{title}" '
    'viewBox="0 0 {width} {height}" width="100%" font-family="system-ui, sans-serif" '
    'font-size="12"><title>{title}</title><desc>{description}</desc>{body}</svg>'
)
_TEXT = Markup('<text x="{x}" y="{y}" text-anchor="{anchor}" fill="{ink}">{text}</text>')
_BAR = Markup(
    '<g><title>{said}</title>{label}<rect x="{x}" y="{y}" width="{width}" height="{height}" '
    'fill="{colour}"/>{value}</g>'
)
_GRID_LINE = Markup('<line x1="{x1}" x2="{x2}" y1="{y}" y2="{y}" stroke="{colour}"/>')
_STROKE_LINE = Markup(
    '<line x1="{x1}" x2="{x2}" y1="{y}" y2="{y}" stroke="{colour}" stroke-width="2" '
    'stroke-dasharray="{dash}"/>'
)
_PATH = Markup(
    '<path d="{d}" fill="none" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>'
)
_POINT = Markup('<circle cx="{x}" cy="{y}" r="3" fill="{colour}"><title>{said}</title></circle>')


def number(value: float) -> str:
    """A number as a chart writes it: 12, 3.5, 0.25 (no trailing zeros)."""
    return f"{value:.10g}"


def _at(value: float) -> str:
    """A coordinate, to a tenth of a unit."""
    return f"{value:.1f}"


def _text(x: float, y: float, text: str, anchor: str = "start") -> Markup:
    return _TEXT.format(x=_at(x), y=_at(y), anchor=anchor, ink=INK, text=text)


def _svg(title: str, description: str, height: int, body: Iterable[Markup]) -> Markup:
    return _SVG.format(
        title=title,
        width=WIDTH,
        height=height,
        description=description,
        body=Markup("").join(body),
    )


def _short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def bar_chart(title: str, bars: Sequence[Bar]) -> Markup:
    """Horizontal bars, one row each, labelled on the left and valued on the right."""
    row, top, label_end, start = 28, 8, 200, 208
    room = WIDTH - start - 64
    highest = max((bar.value for bar in bars), default=0) or 1
    body = []
    for index, bar in enumerate(bars):
        y = top + index * row
        width = room * bar.value / highest
        body.append(
            _BAR.format(
                said=f"{bar.label}: {number(bar.value)}",
                label=_text(label_end, y + row / 2 + 4, _short(bar.label), "end"),
                x=start,
                y=y + 4,
                width=_at(width),
                height=row - 8,
                colour=COLOURS[0],
                value=_text(start + width + 6, y + row / 2 + 4, number(bar.value)),
            )
        )
    if not bars:
        body.append(_text(start, top + row / 2 + 4, "Nothing to show"))
    description = "; ".join(f"{bar.label}: {number(bar.value)}" for bar in bars) or "no values"
    return _svg(title, description, top * 2 + row * max(len(bars), 1), body)


def nice_top(value: float) -> float:
    """The smallest of 1, 2, 4, 6, 8 or 10 times a power of ten that is at least ``value``:
    the top of a y axis whose quarter ticks are round numbers (0, 1.5, 3, 4.5, 6)."""
    if value <= 0:
        return 1
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 4, 6, 8, 10) if step * power >= value)


def _description(labels: Sequence[str], series: Sequence[Series], unit: str) -> str:
    """The numbers read out: 'Median: 2026-01-05 3.5, 2026-01-12 none; ... (days)'."""
    told = "; ".join(
        f"{line.name}: "
        + ", ".join(
            f"{label} {'none' if value is None else number(value)}"
            for label, value in zip(labels, line.values, strict=True)
        )
        for line in series
    )
    return f"{told} ({unit})" if told and unit else told or "no values"


@dataclass(frozen=True)
class _Plot:
    """Where a line chart draws: its slots along x (one per label) and its y scale."""

    labels: Sequence[str]
    ceiling: float
    height: int = 280
    left: int = 56
    right: int = 16
    upper: int = 32
    lower: int = 40

    def x(self, index: int) -> float:
        slot = (WIDTH - self.left - self.right) / max(len(self.labels), 1)
        return self.left + slot * (index + 0.5)

    def y(self, value: float) -> float:
        room = self.height - self.upper - self.lower
        return self.upper + room * (1 - value / self.ceiling)


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    unit: str = "",
    *,
    top: float | None = None,
) -> Markup:
    """Lines over ``labels`` (weeks), one per series, with a point per value; a value of
    None leaves a gap. The y axis runs from 0 to ``top`` (default: a round number at
    or above the highest value)."""
    values = [v for line in series for v in line.values if v is not None]
    plot = _Plot(labels, top if top is not None else nice_top(max(values, default=0)))
    body = [_text(4, 14, unit)]
    for tick in range(5):
        level = plot.ceiling * tick / 4
        body.append(
            _GRID_LINE.format(
                x1=plot.left, x2=WIDTH - plot.right, y=_at(plot.y(level)), colour=GRID
            )
        )
        body.append(_text(plot.left - 6, plot.y(level) + 4, number(level), "end"))
    every = math.ceil(len(labels) / X_LABELS) or 1
    body += [
        _text(plot.x(i), plot.height - plot.lower + 18, label, "middle")
        for i, label in enumerate(labels)
        if i % every == 0
    ]
    for index, line in enumerate(series):
        body += _line(plot, line, index, unit)
    return _svg(title, _description(labels, series, unit), plot.height, body)


def _line(plot: _Plot, line: Series, index: int, unit: str) -> list[Markup]:
    """One series: its legend entry, its line (broken where a value is missing) and a
    point per value, titled with the value."""
    colour, dash = COLOURS[index % len(COLOURS)], DASHES[index % len(DASHES)]
    legend = 96 + index * 180
    parts = [
        _STROKE_LINE.format(x1=legend, x2=legend + 24, y=10, colour=colour, dash=dash),
        _text(legend + 30, 14, line.name),
    ]
    steps, gap = [], True
    for position, value in enumerate(line.values):
        if value is None:
            gap = True
            continue
        steps.append(f"{'M' if gap else 'L'}{_at(plot.x(position))} {_at(plot.y(value))}")
        gap = False
    if steps:
        parts.append(_PATH.format(d=" ".join(steps), colour=colour, dash=dash))
    parts += [
        _POINT.format(
            x=_at(plot.x(position)),
            y=_at(plot.y(value)),
            colour=colour,
            said=f"{line.name}, {plot.labels[position]}: {number(value)} {unit}".strip(),
        )
        for position, value in enumerate(line.values)
        if value is not None
    ]
    return parts
