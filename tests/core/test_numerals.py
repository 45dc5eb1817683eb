"""Numbers in alert text (supervisor/core/numerals.py): in full, no exponent, no float
noise, reading back as the number rounded to nine decimals."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from supervisor.core.numerals import MAX_PLAIN, limit_label, plain


@given(st.floats(min_value=-MAX_PLAIN, max_value=MAX_PLAIN, exclude_max=True, exclude_min=True))
def test_a_number_reads_back_as_itself_rounded_to_nine_decimals(value: float) -> None:
    text = plain(value)
    assert "e" not in text.lower()
    assert not (text.endswith("0") and "." in text) and not text.endswith(".")
    assert math.isclose(float(text), round(value, 9), rel_tol=0, abs_tol=1e-9)


def test_what_people_read() -> None:
    assert [plain(v) for v in (5, 5.0, 0.5, 123456.78, 1234567.5, 0.1 + 0.2, 1e-9)] == [
        "5",
        "5",
        "0.5",
        "123456.78",
        "1234567.5",
        "0.3",
        "0.000000001",
    ]
    assert plain(1e308) == "1e+308"  # a sender's mistake, kept short
    assert limit_label(3, "working_day") == "3个工作日"
    assert limit_label(0.5, "natural_day") == "0.5个自然日"
