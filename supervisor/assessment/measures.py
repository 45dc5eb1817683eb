"""The measures a scheme scores (scheme.MEASURES), computed for one unit from what the
read model counts over a period (`supervisor.store.queries.Counts`: cases accepted,
concluded on time and late, alerts raised by rule).

Cards are counted per 100 cases handled: the larger of the cases accepted and the cases
concluded in the period, so that a center that concluded many old cases this month is
not judged on the few it accepted; a unit that handled none has no figure (and so no
deduction) for them.
"""

from __future__ import annotations

from collections.abc import Callable

from supervisor.assessment.score import Measures
from supervisor.store.queries import Counts

#: The severity of an alert of a rule ("red", "yellow"; None for a rule not known).
SeverityOf = Callable[[str], str | None]


def measures_of(counts: Counts, severity_of: SeverityOf) -> Measures:
    """The measures of one unit from its counts."""
    handled = max(counts.accepted, counts.concluded)
    by_severity = {"red": 0, "yellow": 0}
    for rule_id, raised in counts.alerts.items():
        severity = severity_of(rule_id)
        if severity in by_severity:
            by_severity[severity] += raised
    return {
        "on_time_rate": counts.on_time_rate,
        "red_per_100": by_severity["red"] * 100 / handled if handled else None,
        "yellow_per_100": by_severity["yellow"] * 100 / handled if handled else None,
    }
