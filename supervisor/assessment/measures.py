"""The measures a scheme scores (scheme.MEASURES), computed for one unit from what the
read model counts over a period (`supervisor.store.queries.Counts`: cases accepted,
concluded on time and late, alerts raised by rule).

Cards are counted per 100 cases handled: the larger of the cases accepted and the cases
concluded in the period, so that a center that concluded many old cases this month is
not judged on the few it accepted; and at least one, so that a card raised in a month
the unit handled nothing (an old case's) still costs it.
"""

from __future__ import annotations

from supervisor.assessment.score import Measures
from supervisor.store.queries import Counts


def measures_of(counts: Counts) -> Measures:
    """The measures of one unit from its counts. Cards by the severity each alert was
    raised with (a rule's severity changed since does not change past cards)."""
    handled = max(counts.accepted, counts.concluded, 1)
    red, yellow = counts.severities.get("red", 0), counts.severities.get("yellow", 0)
    return {
        "on_time_rate": counts.on_time_rate,
        "red_per_100": red * 100 / handled,
        "yellow_per_100": yellow * 100 / handled,
    }
