"""The measures a scheme scores (scheme.MEASURES), computed for one unit from what the
read model counts over a period (`supervisor.store.queries.Counts`: cases accepted,
concluded on time and late, alerts raised by rule).

Cards are counted per 100 cases handled: the larger of the cases accepted and the cases
concluded in the period, so that a center that concluded many old cases this month is
not judged on the few it accepted; and at least one, so that a card raised in a month
the unit handled nothing (an old case's) still costs it.
"""

from __future__ import annotations

from supervisor.assessment.loops import LoopCounts
from supervisor.assessment.score import Measures
from supervisor.store.queries import Counts


def measures_of(counts: Counts, loops: LoopCounts | None = None) -> Measures:
    """The measures of one unit from its counts and its closed loops (loops.py). Cards
    by the severity each alert was raised with (a rule's severity changed since does
    not change past cards); a card withdrawn is no card, whether on an appeal upheld
    (摘牌) or by the system when a late event proved it wrong (`Counts.withdrawn_cards`).
    评价率 is the ratings given over the cases concluded (at most 1: a rating may come
    for a case concluded the month before)."""
    handled = max(counts.accepted, counts.concluded, 1)
    red, yellow = (
        counts.severities.get(severity, 0) - counts.withdrawn_cards.get(severity, 0)
        for severity in ("red", "yellow")
    )
    loop = loops or LoopCounts()
    return {
        "on_time_rate": counts.on_time_rate,
        "red_per_100": red * 100 / handled,
        "yellow_per_100": yellow * 100 / handled,
        "evaluation_rate": min(1.0, _ratio(loop.evaluated, counts.concluded) or 0.0)
        if counts.concluded
        else None,
        "good_rate": _ratio(loop.good, loop.evaluated),
        "bad_rate": _ratio(loop.bad, loop.evaluated),
        "bad_rectified_rate": _ratio(loop.bad_rectified_in_time, loop.bad_due),
        "complaint_answered_rate": _ratio(loop.complaints_answered_in_time, loop.complaints_due),
        "order_reply_rate": _ratio(loop.order_replies_in_time, loop.order_replies_due),
        "appeal_upheld_rate": _ratio(loop.appeals_upheld, loop.appeals_decided),
    }


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None
