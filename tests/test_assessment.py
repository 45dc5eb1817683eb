"""The assessment's scoring (supervisor/assessment/): the shipped scheme on a small month
computed by hand, ties and the change against the month before, and scheme files refused
with the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.assessment.measures import measures_of
from supervisor.assessment.scheme import SchemeError, load_scheme
from supervisor.assessment.score import assess
from supervisor.store.queries import Counts

ROOT = Path(__file__).resolve().parent.parent
SCHEME = ROOT / "rules" / "assessment" / "scheme.yaml"
SEVERITY = {"deadline.overdue": "red", "deadline.warning": "yellow", "fee.overcharge": "red"}
"""The severity each rule's alerts were raised with, in these counts."""


def counts(key: str, accepted: int, concluded: int, on_time: int, **alerts: int) -> Counts:
    raised = {rule.replace("_", "."): n for rule, n in alerts.items()}
    severities: dict[str, int] = {}
    for rule, n in raised.items():
        severities[SEVERITY[rule]] = severities.get(SEVERITY[rule], 0) + n
    return Counts(
        (key,),
        accepted=accepted,
        concluded=concluded,
        on_time=on_time,
        overdue=concluded - on_time,
        alerts=raised,
        severities=severities,
    )


def test_a_small_month_scored_graded_and_ranked_as_by_hand() -> None:
    scheme = load_scheme(SCHEME)
    month = [
        # 38/40 on time: 95 points; 1 red and 4 yellow per 50 handled: 2 and 8 per 100,
        # so 2 × 2 = 4 and 0.5 × 8 = 4 deducted: 87, 良好
        counts("451221", 50, 40, 38, deadline_overdue=1, deadline_warning=4),
        # all 20 on time, no card: 100, 优秀
        counts("451222", 20, 20, 20),
        # 3/5 on time: 60 points; 2 red per 10 handled = 20 per 100: 40, capped at 30:
        # 30, 不合格
        counts("451223", 10, 5, 3, deadline_overdue=1, fee_overcharge=1),
        # nothing concluded: full points, no card: 100, 优秀 (ties with 451222)
        counts("451224", 4, 0, 0),
    ]
    measured = {c.key[0] or "": measures_of(c) for c in month}
    before = {"451221": measures_of(counts("451221", 40, 40, 32))}  # 80
    ranked = assess(scheme, measured, before)
    assert [(u.key, u.score, u.grade, u.rank, u.change) for u in ranked] == [
        ("451222", 100.0, "优秀", 1, None),
        ("451224", 100.0, "优秀", 1, None),
        ("451221", 87.0, "良好", 3, 7.0),
        ("451223", 30.0, "不合格", 4, None),
    ]
    first = next(u for u in ranked if u.key == "451221")
    assert [(i.id, i.value, i.points, i.deducted) for i in first.indicators] == [
        ("on_time", 0.95, 95.0, None),
        ("order_replies", None, None, None),  # no order: scored on the on-time rate alone
        ("red_cards", 2.0, None, 4.0),
        ("yellow_cards", 8.0, None, 4.0),
    ]
    assert measured["451224"] == {
        "on_time_rate": None,
        "red_per_100": 0.0,
        "yellow_per_100": 0.0,
        "evaluation_rate": None,  # nothing concluded
        "good_rate": None,
        "bad_rate": None,
        "bad_rectified_rate": None,
        "complaint_answered_rate": None,
        "order_reply_rate": None,
        "appeal_upheld_rate": None,
    }
    idle = measures_of(counts("451225", 0, 0, 0, deadline_overdue=1))
    assert idle["red_per_100"] == 100.0  # handled nothing: a card still costs (1 per 1)
    appealed = counts("451226", 10, 10, 10, deadline_overdue=3)
    appealed.withdrawn_cards["red"] = 2  # two of its three red cards withdrawn (摘牌)
    assert measures_of(appealed)["red_per_100"] == 10.0


GOOD = SCHEME.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "says", "at"),
    [
        ("    weight: 80\n", "    weight: 70\n", "add up to 90, not 100", "- id: on_time"),
        ("measure: on_time_rate", "measure: on_time", "'on_time' is not one of", "measure: on_"),
        (
            "    measure: red_per_100\n",
            "    measure: red_per_100\n    weight: 5\n",
            "give either a weight",
            "weight: 5",
        ),
        ("{name: 合格, min: 60}", "{name: 合格, min: 95}", "highest min down", "{name: 优秀"),
        ("{name: 不合格, min: 0}", "{name: 不合格, min: 10}", "last grade has min 0", "优秀"),
        ("  - id: yellow_cards", "  - id: red_cards", "'red_cards' is given twice", "id: on_time"),
        ("points: 2, per: 1", "points: -2, per: 1", "greater than 0", "points: -2"),
        ("name: 红牌扣分\n", "name: 红牌扣分\n    colour: red\n", "Extra inputs", "colour: red"),
    ],
)
def test_a_bad_scheme_is_refused_with_file_and_line(
    tmp_path: Path, old: str, new: str, says: str, at: str
) -> None:
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    # a problem of a whole list is said at its first entry
    path = tmp_path / "scheme.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SchemeError) as refused:
        load_scheme(path)
    message = str(refused.value)
    line = next(
        n
        for n, content in enumerate(text.splitlines(), 1)
        if at in content and not content.lstrip().startswith("#")
    )
    assert message.startswith(f"{path}:{line}: "), message
    assert says in message, message


def test_what_is_not_a_scheme_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "scheme.yaml"
    for text, says in (("- a list\n", ":1: a scheme is a mapping"), ("a: [\n", "not valid YAML")):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(SchemeError, match=says):
            load_scheme(path)
    with pytest.raises(SchemeError, match="cannot be read"):
        load_scheme(tmp_path / "missing.yaml")


def test_a_deduction_is_shown_to_the_hundredth_as_points_are() -> None:
    """Every page, file and the command show one figure: 0.5 × (1 in 14 handled = 7.142857
    per 100) = 3.571428… is shown 3.57, and the score is taken from the exact figure."""
    scheme = load_scheme(SCHEME)
    [unit] = assess(
        scheme, {"451221": measures_of(counts("451221", 14, 14, 14, deadline_warning=1))}
    )
    yellow = next(i for i in unit.indicators if i.id == "yellow_cards")
    assert yellow.deducted == 3.57 and unit.score == 96.4
