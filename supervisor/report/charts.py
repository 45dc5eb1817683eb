"""The report's charts as SVG: the trend of each unit's score over the last periods, and
the alerts raised by rule. Drawn by matplotlib (its object API, no pyplot and no window)
with every glyph written as a path (`svg.fonttype: path`): the SVG needs no font where it
is shown, and the PDF holds the Chinese labels exactly as drawn here.

Why matplotlib: a well-kept library whose SVG WeasyPrint renders faithfully, with axes,
ticks and legends done right; it reads the face of a `.ttc` font collection by index, so
the labels are drawn with the simplified-Chinese face of Noto Sans CJK (the machine's
CJK fonts are such collections), not the Japanese face a collection starts with.

matplotlib's settings are process-wide and its drawing is not meant for several threads
at once: the settings are made once, and charts are drawn one at a time (`_LOCK`).
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Sequence
from typing import Any, Final

from supervisor.assessment.run import Assessment
from supervisor.centers import region_name
from supervisor.report.model import RuleCount

#: The CJK faces a chart may draw with, the first found: Noto Sans CJK's simplified
#: Chinese face (Debian's fonts-noto-cjk), then others that hold Chinese.
CJK_FAMILIES: Final = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Noto Sans CJK JP",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
)
#: A chart's width in inches: the page's text width (A4 less the margins).
WIDTH: Final = 6.8
_LOCK: Final = threading.Lock()
_BAR: Final = "#c0392b"
_GRID: Final = "#d5d8dc"


class NoChineseFont(RuntimeError):
    """No font that holds Chinese is installed: a chart (and the report) would show
    boxes instead of text, so none is drawn."""


def chinese_family() -> str:
    """The first of CJK_FAMILIES that is installed; NoChineseFont if none is."""
    from matplotlib import font_manager

    for family in CJK_FAMILIES:
        try:
            font_manager.findfont(
                font_manager.FontProperties(family=family), fallback_to_default=False
            )
        except ValueError:
            continue
        return family
    raise NoChineseFont(
        "没有可显示中文的字体（请安装 fonts-noto-cjk） / no font with Chinese glyphs is "
        "installed (Debian: fonts-noto-cjk)"
    )


def _settings(family: str) -> Any:
    """matplotlib's settings for a chart drawn with `family` (typed Any: matplotlib's
    stubs name every setting as a literal)."""
    settings: dict[str, Any] = {
        "svg.fonttype": "path",  # glyphs as paths: no font needed where the SVG is shown
        "svg.hashsalt": "supervisor-report",  # the same ids every time: repeatable files
        "font.family": [family, "DejaVu Sans"],
        "font.size": 8.0,
        "axes.unicode_minus": False,  # an ASCII hyphen: every font has one
        "axes.spines.top": False,
        "axes.spines.right": False,
    }
    return settings


def _svg(figure: object) -> str:
    from matplotlib.figure import Figure

    assert isinstance(figure, Figure)
    out = io.StringIO()
    figure.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None})
    return out.getvalue()


def short_name(name: str) -> str:
    """A unit's name in a legend: its place (东兰县, 东兰县某镇), without "政务服务中心"."""
    return region_name(name)


def trend_svg(trend: Sequence[Assessment]) -> str | None:
    """The score of each unit of the last assessment over the periods of `trend` (oldest
    first; a unit not assessed in a period leaves a gap), with the grades' lower bounds
    as guides; None when no unit was assessed."""
    if not trend or not trend[-1].units:
        return None
    import matplotlib
    from matplotlib.figure import Figure

    last = trend[-1]
    labels = [each.period.label for each in trend]
    keys = [unit.key for unit in last.units]
    scores = {
        key: [
            next((unit.score for unit in each.units if unit.key == key), math.nan) for each in trend
        ]
        for key in keys
    }
    with _LOCK, matplotlib.rc_context(_settings(chinese_family())):
        rows = math.ceil(len(keys) / 4)
        figure = Figure(figsize=(WIDTH, 3.0 + 0.22 * rows))
        axes = figure.subplots()
        colours = matplotlib.colormaps["tab20"]
        for i, key in enumerate(keys):
            name = short_name(last.names.get(key, key))
            axes.plot(
                range(len(labels)),
                scores[key],
                marker="o",
                markersize=3,
                linewidth=1.4,
                color=colours((2 * i) % 20 + (i // 10) % 2),  # the dark ones first
                label=name,
            )
        for grade in last.scheme.grades:
            if grade.min > 0:
                axes.axhline(grade.min, color=_GRID, linewidth=0.8, linestyle="--", zorder=0)
                axes.annotate(
                    f"{grade.name} ≥{grade.min:g}",
                    (len(labels) - 1, grade.min),
                    xytext=(4, 2),
                    textcoords="offset points",
                    color="#7f8c8d",
                    fontsize=6.5,
                    annotation_clip=False,
                )
        axes.set_xticks(range(len(labels)), labels)
        axes.set_xlim(-0.3, len(labels) - 0.7 if len(labels) > 1 else 0.3)
        axes.set_ylim(-3, 103)  # a score of 0 or 100 is drawn whole
        axes.set_ylabel("得分")
        axes.grid(axis="y", color=_GRID, linewidth=0.5)
        axes.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, -0.1),
            ncols=4,
            frameon=False,
            fontsize=7,
        )
        return _svg(figure)


def rules_svg(rules: Sequence[RuleCount]) -> str | None:
    """The alerts raised in the period by rule, one bar each, the most at the top, with
    its count; None when no alert was raised."""
    if not rules:
        return None
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    with _LOCK, matplotlib.rc_context(_settings(chinese_family())):
        figure = Figure(figsize=(WIDTH, 0.6 + 0.28 * len(rules)))
        axes = figure.subplots()
        ordered = list(reversed(rules))  # barh draws the first at the bottom
        positions = range(len(ordered))
        bars = axes.barh(positions, [rule.raised for rule in ordered], color=_BAR, height=0.6)
        axes.set_yticks(positions, [rule.title for rule in ordered])
        axes.bar_label(bars, [str(rule.raised) for rule in ordered], padding=3, fontsize=7)
        axes.set_xlabel("预警数（件）")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(axis="x", color=_GRID, linewidth=0.5)
        axes.set_axisbelow(True)
        axes.margins(x=0.12)
        return _svg(figure)
