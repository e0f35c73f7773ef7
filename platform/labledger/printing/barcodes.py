"""Code 128 and QR codes as inline SVG, for labels printed from a browser.

SVG keeps bars sharp at any printer resolution and needs no image files: the
symbol is part of the printout's HTML. Each SVG has a ``viewBox`` and no fixed
size, so a template sizes it with CSS (``svg.code128 { width: 45mm }``).
python-barcode computes the Code 128 bars (it picks code sets A/B/C and the
check symbol) and segno the QR matrix; this module only draws them.

Values come from records, so they are checked: a Code 128 value is printable
ASCII (what handheld scanners type back reliably), and both have a length
limit that keeps a symbol scannable on a label.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import segno
from barcode.codex import Code128
from jinja2 import Undefined
from markupsafe import Markup, escape

from labledger.printing.sandbox import TemplateProblem

#: Longest Code 128 value: past this a label-sized symbol cannot be scanned.
CODE128_MAX = 80
#: Longest QR value (characters).
QR_MAX = 1000
#: Quiet zone on each side of a Code 128 symbol, in modules (the standard asks 10).
QUIET_MODULES = 10
#: Height of the human-readable line under the bars, in modules.
TEXT_MODULES = 14
_BARS = re.compile("1+")


def _value(function: str, value: Any, limit: int) -> str:
    if value is None or value == "" or isinstance(value, Undefined):
        raise TemplateProblem(f"{function}() was given no value to encode")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TemplateProblem(f"{function}() encodes a text or a whole number")
    text = str(value)
    if len(text) > limit:
        raise TemplateProblem(
            f"{function}() encodes at most {limit} characters (this value has {len(text)})"
        )
    return text


def code128(value: Any, text: bool = True) -> Markup:
    """A Code 128 barcode of ``value``, with the value printed under it unless ``text=False``."""
    data = _value("code128", value, CODE128_MAX)
    bad = next((c for c in data if not " " <= c <= "~"), None)
    if bad is not None:
        raise TemplateProblem(
            f"code128() encodes printable ASCII characters only, not {bad!r}; use qr() instead"
        )
    return _code128_svg(data, bool(text))


def qr(value: Any) -> Markup:
    """A QR code of ``value`` (error correction level M, the standard 4-module quiet zone)."""
    return _qr_svg(_value("qr", value, QR_MAX))


# Symbols are cached by value: reprinting labels, or a number on several labels,
# costs nothing (choosing a QR mask is the slow part, several milliseconds).


@lru_cache(maxsize=2048)
def _code128_svg(data: str, text: bool) -> Markup:
    modules = Code128(data).build()[0]
    width = len(modules) + 2 * QUIET_MODULES
    bar_height = max(20, round(width * 0.2))
    height = bar_height + (TEXT_MODULES if text else 0)
    bars = "".join(
        f"M{run.start() + QUIET_MODULES} 0h{len(run.group())}v{bar_height}h-{len(run.group())}z"
        for run in _BARS.finditer(modules)
    )
    label = escape(data)
    caption = (
        f'<text x="{width / 2:g}" y="{bar_height + TEXT_MODULES - 3}" text-anchor="middle" '
        f'font-family="monospace" font-size="10">{label}</text>'
        if text
        else ""
    )
    return Markup(  # noqa: S704 - built from numbers and the escaped value
        f'<svg xmlns="http://www.w3.org/2000/svg" class="code128" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{label}"><title>{label}</title>'
        f'<rect width="{width}" height="{height}" fill="#fff"/>'
        f'<path fill="#000" d="{bars}"/>{caption}</svg>'
    )


@lru_cache(maxsize=2048)
def _qr_svg(data: str) -> Markup:
    symbol = segno.make_qr(data, error="m")
    svg = symbol.svg_inline(
        omitsize=True, border=4, svgclass="qr", lineclass=None, light="#fff", title=data
    )
    return Markup(svg)  # noqa: S704 - segno escapes the title; the rest is its path
