"""Scores, grades and ranks of measured units by a scheme (scheme.py). Pure: the measures
come in (computed elsewhere from the read model), the results go out; no clock, no I/O.

For a unit: each points indicator earns its weight times its rate (or times one minus
it, `better: lower`); those without data are left out and the rest scaled up to 100, so
that a township with no rating this month is judged on what it did. Each deduction takes
`points` per `per` of its measure, at most `max`. The score is rounded to 0.1 and kept
between 0 and 100. Units are ranked by score, highest first; equal scores share a rank
(1, 2, 2, 4), and the change against the period before is the score's difference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from supervisor.assessment.scheme import TOTAL_POINTS, Indicator, Scheme

#: One unit's measures: measure name -> value (a rate, a count per 100 cases), None when
#: there is nothing to measure.
Measures = Mapping[str, float | None]


@dataclass(frozen=True)
class IndicatorResult:
    """What one indicator gave a unit: the measure's value, the points earned (points
    indicators, after scaling) or deducted (deductions)."""

    id: str
    name: str
    value: float | None
    points: float | None = None
    deducted: float | None = None


@dataclass(frozen=True)
class Assessed:
    """One unit's assessment: its key, score, grade, rank, and each indicator's part."""

    key: str
    score: float
    grade: str
    rank: int = 0
    change: float | None = None  # against the period before; None when not assessed then
    indicators: tuple[IndicatorResult, ...] = field(default=())


def assess_unit(scheme: Scheme, key: str, measures: Measures) -> Assessed:
    """Score one unit by `scheme` (unranked)."""
    results: list[IndicatorResult] = []
    earned = 0.0
    judged_weight = 0.0
    deducted = 0.0
    for indicator in scheme.indicators:
        value = measures.get(indicator.measure)
        if indicator.weight is not None:
            results.append(IndicatorResult(indicator.id, indicator.name, value))
            if value is not None:
                earned += indicator.weight * _toward_better(indicator, value)
                judged_weight += indicator.weight
        else:
            assert indicator.deduct is not None  # scheme.py: weight or deduct, one of them
            rule = indicator.deduct
            taken = min(rule.max, rule.points * (value or 0.0) / rule.per)
            deducted += taken
            # shown to 0.01, as the points are (`_scaled`): every page, file and the
            # command say the same figure; the score is computed from the exact ones
            shown = round(taken, 2)
            results.append(IndicatorResult(indicator.id, indicator.name, value, deducted=shown))
    scale = TOTAL_POINTS / judged_weight if judged_weight else 0.0
    results = [
        result
        if result.deducted is not None or result.value is None
        else _scaled(result, scheme, scale)
        for result in results
    ]
    points = earned * scale if judged_weight else TOTAL_POINTS  # nothing to judge: full marks
    score = round(min(TOTAL_POINTS, max(0.0, points - deducted)), 1)
    return Assessed(key, score, scheme.grade(score), indicators=tuple(results))


def assess(
    scheme: Scheme,
    measured: Mapping[str, Measures],
    before: Mapping[str, Measures] | None = None,
) -> list[Assessed]:
    """Every unit of `measured` scored, graded and ranked (highest score first, equal
    scores sharing a rank, then by key), with its change against `before` (the same
    units measured over the period before) where it was assessed then."""
    scored = sorted(
        (assess_unit(scheme, key, measures) for key, measures in measured.items()),
        key=lambda unit: (-unit.score, unit.key),
    )
    earlier = {
        key: assess_unit(scheme, key, measures).score for key, measures in (before or {}).items()
    }
    ranked: list[Assessed] = []
    for position, unit in enumerate(scored, start=1):
        rank = ranked[-1].rank if ranked and ranked[-1].score == unit.score else position
        change = round(unit.score - earlier[unit.key], 1) if unit.key in earlier else None
        ranked.append(Assessed(unit.key, unit.score, unit.grade, rank, change, unit.indicators))
    return ranked


def _toward_better(indicator: Indicator, rate: float) -> float:
    rate = min(1.0, max(0.0, rate))
    return 1.0 - rate if indicator.better == "lower" else rate


def _scaled(result: IndicatorResult, scheme: Scheme, scale: float) -> IndicatorResult:
    indicator = next(i for i in scheme.indicators if i.id == result.id)
    assert indicator.weight is not None and result.value is not None
    points = round(indicator.weight * _toward_better(indicator, result.value) * scale, 2)
    return IndicatorResult(result.id, result.name, result.value, points=points)


def ranks_of(units: Sequence[Assessed]) -> dict[str, int]:
    """Each unit's rank by key."""
    return {unit.key: unit.rank for unit in units}
