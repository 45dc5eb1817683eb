"""Numbers as people read them in alert text: a fee of 123456.78 元 as 123456.78, not as
123457 (six significant digits, what `:g` keeps) or 1.23457e+06 (its exponent).

A number is rounded to nine decimals (a sum of fees 0.1 + 0.2 reads 0.3, not
0.30000000000000004), then written as the shortest decimal that reads back as that float
(Python's `repr`), without an exponent and without trailing zeros: 5, 0.5, 1000000,
0.000000001.
Beyond MAX_PLAIN it keeps `:g`'s exponent: such a number is a sender's mistake, and its
three hundred digits would bury the message."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Final

MAX_PLAIN: Final = 1e15


def plain(value: float) -> str:
    """`value` in plain decimal notation (see the module's docstring)."""
    if not math.isfinite(value) or abs(value) >= MAX_PLAIN:
        return f"{value:g}"
    value = round(value, 9)
    if value == int(value):
        return str(int(value))
    text = format(Decimal(repr(float(value))), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def limit_label(value: float, unit: str) -> str:
    """A time limit as alert text names it: 3个工作日, 0.5个自然日."""
    return f"{plain(value)}个工作日" if unit == "working_day" else f"{plain(value)}个自然日"
