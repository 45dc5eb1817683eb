"""Rule definitions as data: loaded from `rules/*.yaml`, validated strictly at load.

Supervision offices change thresholds and wording, not Python: the engine knows how
each canonical rule *evaluates*, the YAML says whether it is on, its severity, its zh-CN
title and message, the legal basis, and its thresholds. An office's own rules are written
in YAML alone as one of the declarative kinds (count, threshold, sequence, deadline,
absence: see core/declarative.py). Unknown keys, unknown rule ids or kinds, wrong types
and references to unknown event fields are refused with the file, the line and the rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from supervisor.core.catalogue import Catalogue, CatalogueError
from supervisor.core.declarative import KIND_PARAMS, KINDS
from supervisor.core.yaml_lines import line_of, not_yaml

_line = line_of  # the name supervisor.notify.routing imports

Severity = Literal["yellow", "red"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(_Strict):
    pass


class WarningParams(_Strict):
    """`share`: fire when this share of the promised limit has elapsed; `remaining`:
    fire when this many working days remain (the "1 working day before" ladders)."""

    mode: Literal["share", "remaining"] = "share"
    share: float = Field(default=0.8, gt=0, lt=1)
    remaining_working_days: float = Field(default=1.0, gt=0)


class WorkingDaysParams(_Strict):
    working_days: float = Field(gt=0)


class MinutesParams(_Strict):
    minutes: float = Field(gt=0)


class ExtensionRepeatedParams(_Strict):
    max_extensions: int = Field(default=1, ge=1)
    max_working_days: float = Field(default=10, gt=0)


class NegativeEvaluationParams(_Strict):
    max_level: int = Field(default=2, ge=1, le=5)


class UnrectifiedParams(_Strict):
    max_level: int = Field(default=2, ge=1, le=5)
    working_days: float = Field(default=15, gt=0)


class SilenceParams(_Strict):
    """`working_hours` of office time without any event; office hours are windows
    "HH:MM-HH:MM" of each working day of the center's calendar (lunch break excluded)."""

    working_hours: float = Field(default=2, gt=0)
    office_hours: list[str] = Field(default=["09:00-12:00", "13:30-17:30"], min_length=1)

    @field_validator("office_hours")
    @classmethod
    def _windows(cls, value: list[str]) -> list[str]:
        previous = None
        for text in value:
            opens, sep, closes = text.partition("-")
            try:
                start, end = time.fromisoformat(opens.strip()), time.fromisoformat(closes.strip())
            except ValueError:
                raise ValueError(f"{text!r} is not a window like '09:00-12:00'") from None
            if not sep or end <= start:
                raise ValueError(f"{text!r} is not a window like '09:00-12:00'")
            if previous is not None and start < previous:
                raise ValueError(f"{text!r} overlaps or precedes the window before it")
            previous = end
        return value

    def windows(self) -> list[tuple[time, time]]:
        pairs = (text.partition("-") for text in self.office_hours)
        return [(time.fromisoformat(a.strip()), time.fromisoformat(b.strip())) for a, _, b in pairs]


class RepeatedParams(_Strict):
    max_requests: int = Field(default=1, ge=1)


#: The rules this engine knows how to evaluate, and the shape of their thresholds.
PARAMS: dict[str, type[_Strict]] = {
    "deadline.warning": WarningParams,
    "deadline.overdue": NoParams,
    "deadline.statutory_overdue": NoParams,
    "supplement.repeated": RepeatedParams,
    "supplement.late": WorkingDaysParams,
    "suspension.no_reason": NoParams,
    "suspension.too_long": WorkingDaysParams,
    "extension.unapproved": NoParams,
    "extension.repeated": ExtensionRepeatedParams,
    "fee.overcharge": NoParams,
    "workflow.out_of_order": NoParams,
    "workflow.no_decision": NoParams,
    "workflow.step_skipped": NoParams,
    "conclusion.too_fast": MinutesParams,
    "rejection.no_reason": NoParams,
    "delivery.overdue": WorkingDaysParams,
    "evaluation.negative": NegativeEvaluationParams,
    "evaluation.unrectified": UnrectifiedParams,
    "center.silent": SilenceParams,
    # contract §8: silent without an item catalogue
    "catalogue.unknown_item": NoParams,
    "catalogue.limit_mismatch": NoParams,
    "stage.overdue": NoParams,
    "complaint.unanswered": WorkingDaysParams,
}


class RuleSpec(_Strict):
    id: str = Field(min_length=1, pattern=r"^[a-z0-9_-]+(\.[a-z0-9_-]+)+$")
    kind: str = "builtin"
    severity: Severity
    title: str = Field(min_length=1)
    message: str = Field(min_length=1)
    basis: str = ""
    enabled: bool = True
    params: dict[str, Any] = Field(default_factory=dict)


class Rule:
    """One loaded rule: its spec plus its thresholds parsed into their typed model."""

    def __init__(self, spec: RuleSpec, params: BaseModel) -> None:
        self.spec = spec
        self.params = params

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def kind(self) -> str:
        return self.spec.kind

    def render(self, fields: Mapping[str, object]) -> tuple[str, str]:
        """Title and message with `{field}` placeholders filled; a missing one shows —."""
        # str.format_map: what string.Formatter().vformat(template, (), values) gives (the
        # same syntax, lookups, conversions and specs), in C
        values = _Fallback(fields)
        return self.spec.title.format_map(values), self.spec.message.format_map(values)


class _Fallback(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "—"


class RuleError(ValueError):
    """A rule file that cannot be loaded; the message names the file and the problem."""


class RuleBook:
    """The rules in force, and the item catalogue they judge acceptances by (None: no
    catalogue configured). Immutable: a reload builds a new book."""

    def __init__(self, rules: Mapping[str, Rule], catalogue: Catalogue | None = None) -> None:
        self._rules = dict(rules)
        self.catalogue = catalogue
        self._declarative = [
            r for r in self._rules.values() if r.kind != "builtin" and r.spec.enabled
        ]

    def get(self, rule_id: str) -> Rule | None:
        """The rule if it is loaded and enabled, else None (the engine skips it)."""
        rule = self._rules.get(rule_id)
        return rule if rule is not None and rule.spec.enabled else None

    def __iter__(self) -> Any:
        return iter(self._rules.values())

    def declarative(self) -> list[Rule]:
        """The enabled rules defined by a kind in YAML alone (see core/declarative.py)."""
        return self._declarative

    def __len__(self) -> int:
        return len(self._rules)

    @classmethod
    def load(cls, directory: Path | str, *, catalogue: bool = True) -> RuleBook:
        """The rule files of `directory` and, unless `catalogue` is false (a reader of
        the rules alone: a city's catalogue takes seconds to validate), its item
        catalogue (`directory/catalogue`)."""
        directory = Path(directory)
        files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
        if not files:
            raise RuleError(f"{directory}: no rule files (*.yaml)")
        rules: dict[str, Rule] = {}
        for path in files:
            for rule in _load_file(path):
                if rule.id in rules:
                    raise RuleError(f"{path}: rule {rule.id!r} is defined twice")
                rules[rule.id] = rule
        if not catalogue:
            return cls(rules)
        try:
            items = Catalogue.load(directory / "catalogue")
        except CatalogueError as exc:
            raise RuleError(str(exc)) from None
        return cls(rules, items)


def _load_file(path: Path) -> list[Rule]:
    text = path.read_text(encoding="utf-8")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleError(not_yaml(path, exc)) from None
    composed: list[yaml.Node | None] = []

    def tree() -> yaml.Node | None:
        """The file's YAML tree, for the line of an error: composed only then (it parses
        what safe_load just parsed, the same way, so it cannot fail where that did not;
        every engine loads its rules, and parsing is most of it)."""
        if not composed:
            composed.append(yaml.compose(text))
        return composed[0]

    if not isinstance(document, dict) or set(document) - {"rules"}:
        raise RuleError(f"{path}:1: a rule file is a mapping with one key, 'rules'")
    entries = document.get("rules") or []
    if not isinstance(entries, list):
        raise RuleError(f"{path}:{line_of(tree(), ['rules'])}: 'rules' must be a list")
    loaded = []
    for index, entry in enumerate(entries):
        label = f"rules[{index}]"
        if isinstance(entry, dict) and "id" in entry:
            label += f" ({entry['id']})"

        def refuse(
            problem: str, loc: list[str | int], index: int = index, label: str = label
        ) -> RuleError:
            line = line_of(tree(), ["rules", index, *loc])
            return RuleError(f"{path}:{line}: {label}: {problem}")

        try:
            spec = RuleSpec.model_validate(entry)
        except ValidationError as exc:
            problem, loc = _first_error(exc)
            raise refuse(problem, loc) from None
        model: type[BaseModel] | None
        if spec.kind == "builtin":
            model = PARAMS.get(spec.id)
            if model is None:
                known = ", ".join(PARAMS)
                raise refuse(
                    f"id: unknown rule id {spec.id!r}; the engine evaluates {known}; a rule of "
                    f"your own needs a kind: one of {', '.join(KINDS)}",
                    ["id"],
                )
        elif spec.kind in KIND_PARAMS:
            if spec.id in PARAMS:
                raise refuse(
                    f"id: {spec.id!r} is a canonical rule evaluated by the engine; "
                    "give your own rule another id",
                    ["id"],
                )
            model = KIND_PARAMS[spec.kind]
        else:
            raise refuse(
                f"kind: unknown rule kind {spec.kind!r}; known: builtin, {', '.join(KINDS)}",
                ["kind"],
            )
        assert model is not None
        try:
            params = model.model_validate(spec.params)
        except ValidationError as exc:
            problem, loc = _first_error(exc)
            key = problem.split(":", 1)[0]
            if not loc and key in spec.params:  # a check across fields names its key
                loc = [key]
            raise refuse(f"params.{problem}", ["params", *loc]) from None
        loaded.append(Rule(spec, params))
    return loaded


def _first_error(exc: ValidationError) -> tuple[str, list[str | int]]:
    item = exc.errors()[0]
    loc = list(item["loc"])
    where = ".".join(str(p) for p in loc)
    message = item["msg"].removeprefix("Value error, ")
    return (f"{where}: {message}" if where else message), loc
