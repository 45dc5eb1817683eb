"""The assessment's scoring scheme (评分方案), as data: which indicators count, by which
measure of the read model, for how many points or deductions, and the grades by score.

A scheme is a YAML file (`rules/assessment.yaml` ships one; the format is in its
comments). It is refused whole, with the file, the line and the problem, as rule files
are: a scheme that scored by a misspelt measure or weights that do not add up to 100
would grade every center wrong, silently.

Two kinds of indicator:

- **points** (`weight`): a rate between 0 and 1 earns `weight × rate` points, or
  `weight × (1 − rate)` with `better: lower` (超期率: the lower the better). The weights
  add up to 100. A unit for which a rate has no data (no case concluded, no rating given)
  is not judged on it: its other indicators are scaled up to the same 100 (none with
  data: full points, less its deductions).
- **deduction** (`deduct`): `points` deducted per `per` of the measure (e.g. 2 points per
  red card per 100 cases), at most `max`.

The score is the points less the deductions, between 0 and 100; the grade is the first
whose `min` the score reaches (grades from the highest `min` down to 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from supervisor.core.yaml_lines import line_of, not_yaml

#: The measures the service computes for a unit (a center, a department, a window or a
#: staff member) over a period: name -> (Chinese name, kind). A rate is between 0 and 1
#: (None without data); a count per 100 cases is 0 or more.
MEASURES: Final[dict[str, tuple[str, Literal["rate", "per_100"]]]] = {
    "on_time_rate": ("按期办结率", "rate"),
    "red_per_100": ("红牌（每百件）", "per_100"),
    "yellow_per_100": ("黄牌（每百件）", "per_100"),
    "evaluation_rate": ("评价率", "rate"),
    "good_rate": ("好评率", "rate"),
    "bad_rate": ("差评率", "rate"),
    "bad_rectified_rate": ("差评按期整改率", "rate"),
    "complaint_answered_rate": ("投诉按期答复率", "rate"),
    "order_reply_rate": ("督办单按期回复率", "rate"),
    "appeal_upheld_rate": ("申诉成立率", "rate"),
}
#: What the weights of the points indicators add up to.
TOTAL_POINTS: Final = 100.0


class SchemeError(ValueError):
    """A scheme file that cannot be used; the message names the file and the line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Deduction(_Strict):
    """`points` deducted per `per` of the measure, at most `max`."""

    points: float = Field(gt=0)
    per: float = Field(default=1.0, gt=0)
    max: float = Field(gt=0, le=TOTAL_POINTS)


class Indicator(_Strict):
    """One line of the scheme: an id, its Chinese name, the measure it reads, and either
    a weight (points) or a deduction."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    name: str = Field(min_length=1, max_length=40)
    measure: str
    weight: float | None = Field(default=None, gt=0, le=TOTAL_POINTS)
    better: Literal["higher", "lower"] = "higher"
    deduct: Deduction | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Indicator:
        if self.measure not in MEASURES:
            raise ValueError(
                f"measure: {self.measure!r} is not one of {', '.join(sorted(MEASURES))}"
            )
        kind = MEASURES[self.measure][1]
        if (self.weight is None) == (self.deduct is None):
            raise ValueError("weight: give either a weight (points) or a deduct, not both")
        if self.weight is not None and kind != "rate":
            raise ValueError(f"weight: {self.measure} is not a rate; deduct by it instead")
        return self


class Grade(_Strict):
    name: str = Field(min_length=1, max_length=10)
    min: float = Field(ge=0, le=TOTAL_POINTS)


class SchemeFile(_Strict):
    name: str = Field(min_length=1, max_length=60)
    indicators: list[Indicator] = Field(min_length=1)
    grades: list[Grade] = Field(min_length=1)

    @model_validator(mode="after")
    def _adds_up(self) -> SchemeFile:
        ids = [indicator.id for indicator in self.indicators]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"indicators: {twice[0]!r} is given twice")
        total = sum(indicator.weight or 0 for indicator in self.indicators)
        if abs(total - TOTAL_POINTS) > 1e-9:
            raise ValueError(f"indicators: the weights add up to {total:g}, not 100")
        mins = [grade.min for grade in self.grades]
        if mins != sorted(mins, reverse=True) or len(set(mins)) != len(mins):
            raise ValueError("grades: list them from the highest min down, each min once")
        if mins[-1] != 0:
            raise ValueError("grades: the last grade has min 0 (every score gets a grade)")
        return self


@dataclass(frozen=True)
class Scheme:
    """A scheme as loaded: its name, indicators and grades, and where it came from."""

    name: str
    indicators: tuple[Indicator, ...]
    grades: tuple[Grade, ...]
    source: str

    @property
    def measures(self) -> frozenset[str]:
        """The measures its indicators read."""
        return frozenset(indicator.measure for indicator in self.indicators)

    def grade(self, score: float) -> str:
        """The grade of `score`: the first whose min it reaches."""
        return next(grade.name for grade in self.grades if score >= grade.min)


def load_scheme(path: Path | str) -> Scheme:
    """Read and check a scheme file; SchemeError naming the file and the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SchemeError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    try:
        document = yaml.safe_load(text)
        tree = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise SchemeError(not_yaml(path, exc)) from None
    if not isinstance(document, dict):
        raise SchemeError(f"{path}:1: a scheme is a mapping with name, indicators and grades")
    try:
        spec = SchemeFile.model_validate(document)
    except ValidationError as exc:
        item = exc.errors()[0]
        loc = [part for part in item["loc"] if isinstance(part, str | int)]
        message = str(item["msg"]).removeprefix("Value error, ")
        where = ".".join(str(part) for part in loc)
        key = message.split(":", 1)[0] if ": " in message else ""
        if key and key not in loc and " " not in key:  # a check across fields names its key
            loc = [*loc, key]
        problem = f"{where}: {message}" if where else message
        raise SchemeError(f"{path}:{line_of(tree, loc)}: {problem}") from None
    return Scheme(spec.name, tuple(spec.indicators), tuple(spec.grades), str(path))
