"""Who receives which alert: the routing file (`rules/notify/routing.yaml`), strictly parsed.

Why under `rules/notify/` and not `rules/`: `RuleBook.load` reads every top-level
`rules/*.yaml` as a rule file, and a routing file is not one. The worker's live reload
watches `rules/**.yaml`, so editing this file only makes it reload the same rules.

The file has four sections (every one optional but `recipients` and `routes`):

    settings:                      # timing of the notifications (plan.py); defaults shown
      digest_minutes: 30           # yellow alerts: one digest per (center, recipient)
      repeat_minutes: 240          # a red alert still open is notified again; 0: never
      max_repeats: 0               # 0: no limit
      escalate_after_working_hours: 2   # office hours on the center's calendar; 0: never
      office_hours: ["09:00-12:00", "13:30-17:30"]
      hold_outside_office_hours: true   # digests and repeats wait for office hours
      keep_closed_days: 7          # closed alerts remembered (a record read twice)
    recipients:
      - id: director-451221        # [a-z0-9_.-], used in notification ids
        name: 南丹县政务服务中心主任
        role: director             # director | inspector | ops | other
        center: "451221"           # a director's center
        channels:                  # at least one
          webhook: {url: https://…, secret_env: NOTIFY_WEBHOOK_SECRET_451221}
          email: {address: director-451221@example.invalid}
    directors:                     # center code -> recipient id, for escalation
      "451221": director-451221
    routes:
      - name: 南丹县及所辖乡镇      # shown in errors
        centers: ["451221"]        # omitted: every center
        below: true                # with the centers below them
        severity: [red, yellow]    # omitted: both (a single value is accepted)
        rules: ["deadline.*", fee.overcharge]   # ids or prefixes; omitted: every rule
        repeat: true               # false: its recipients get no repeat of a red alert
        to: [director-451221]

A route matches an alert when every criterion given holds (each list is "any of"); the
recipients of an alert are those of every matching route, each once, in file order. A
red alert's repeats go to those of the matching routes that do not say `repeat: false`
(a city director told of every red alert of the city at once need not be reminded of
each every few hours: the county's director is); when none of them repeats, to all of
them (plan.py), so that a red alert is always reminded.
Unknown keys, wrong types, unknown channels, severities, malformed rule patterns, codes
that are not division codes, references to unknown recipients and duplicate keys are
refused with the file, the line and the problem, as rule files are (core/rules.py). With
`known_rules` (the ids of the rule book in force), a rule pattern that matches no rule is
refused too: a typo would otherwise route nothing, silently.

Pure: the only I/O is reading the file in `load_routing`. Hierarchy questions ("below",
the escalation chain) use the contract's code rule (`supervisor.centers.parent_code`),
which is what `CenterRegistry` itself enforces for registered centers, so no registry is
needed and unregistered centers are covered as well.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from supervisor import orders
from supervisor.centers import is_valid_code, parent_code
from supervisor.core.rules import SilenceParams, _first_error, _line
from supervisor.core.yaml_lines import not_yaml

Severity = Literal["yellow", "red"]
SEVERITIES: tuple[Severity, ...] = ("yellow", "red")
Role = Literal["director", "inspector", "ops", "other"]

#: A rule id (`deadline.overdue`), a prefix (`deadline.*`) or every rule (`*`).
RULE_PATTERN = re.compile(r"^(\*|[a-z0-9_-]+(\.[a-z0-9_-]+)*\.\*|[a-z0-9_-]+(\.[a-z0-9_-]+)+)$")
RECIPIENT_ID = r"^[a-z0-9][a-z0-9_.-]*$"
DEFAULT_OFFICE_HOURS = ["09:00-12:00", "13:30-17:30"]


class RoutingError(ValueError):
    """A routing file that cannot be loaded; the message names the file, line and problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- matching helpers (shared with silences.py) -------------------------------------------


def rule_matches(pattern: str, rule_id: str) -> bool:
    """`*` matches every rule, `deadline.*` every rule whose id starts with `deadline.`,
    anything else only itself."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return rule_id.startswith(pattern[:-1])
    return rule_id == pattern


def check_rule_pattern(pattern: str) -> str:
    if not RULE_PATTERN.match(pattern):
        # the value is not quoted: a silence's rule comes from a request, whose answer
        # never echoes what was sent (a config file's error names its file and line)
        raise ValueError("not a rule id (deadline.overdue), a prefix (deadline.*) or *")
    return pattern


def ancestors(code: str) -> list[str]:
    """Parent, grandparent … of a division code, nearest first (township -> county -> city)."""
    chain: list[str] = []
    current = parent_code(code)
    while current is not None and current not in chain:
        chain.append(current)
        current = parent_code(current)
    return chain


def center_matches(scope: str, code: str, below: bool) -> bool:
    """True when `code` is `scope`, or lies below it and `below` is set."""
    return code == scope or (below and scope in ancestors(code))


def _check_code(code: str) -> str:
    if not is_valid_code(code):
        raise ValueError(f"{code!r} is not a 6- or 9-digit division code")
    return code


# -- the file's model ---------------------------------------------------------------------


class NotifySettings(_Strict):
    """Timing of notifications; see the module docstring and plan.py."""

    digest_minutes: float = Field(default=30, gt=0)
    repeat_minutes: float = Field(default=240, ge=0)
    max_repeats: int = Field(default=0, ge=0)
    escalate_after_working_hours: float = Field(default=2, ge=0)
    office_hours: list[str] = Field(default=DEFAULT_OFFICE_HOURS, min_length=1)
    hold_outside_office_hours: bool = True
    keep_closed_days: float = Field(default=7, gt=0)

    @field_validator("office_hours")
    @classmethod
    def _windows(cls, value: list[str]) -> list[str]:
        try:
            SilenceParams(office_hours=value)
        except ValidationError as exc:
            raise ValueError(_first_error(exc)[0].split(": ", 1)[-1]) from None
        return value

    def office(self) -> SilenceParams:
        """The office hours in the shape `core.silence.office_add` takes."""
        return SilenceParams(
            working_hours=self.escalate_after_working_hours or 1, office_hours=self.office_hours
        )


class Webhook(_Strict):
    """A JSON POST signed with HMAC-SHA256; the secret is read from the environment
    variable `secret_env` by the channel, never written in this file."""

    url: str = Field(pattern=r"^https?://[^\s/]+\S*$")
    secret_env: str = Field(pattern=r"^[A-Z_][A-Z0-9_]*$")


class Email(_Strict):
    address: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Channels(_Strict):
    webhook: Webhook | None = None
    email: Email | None = None


class Recipient(_Strict):
    id: str = Field(pattern=RECIPIENT_ID)
    name: str = Field(min_length=1)
    role: Role
    center: str | None = None
    channels: Channels

    @field_validator("center")
    @classmethod
    def _center(cls, value: str | None) -> str | None:
        return None if value is None else _check_code(value)

    @model_validator(mode="after")
    def _complete(self) -> Recipient:
        if self.channels.webhook is None and self.channels.email is None:
            raise ValueError("channels: give at least one of webhook, email")
        if self.role == "director" and self.center is None:
            raise ValueError("center: a director is the director of a center; give its code")
        return self


class RouteSpec(_Strict):
    name: str = ""
    enabled: bool = True
    centers: list[str] | None = None
    below: bool = False
    severity: list[Severity] = Field(default=list(SEVERITIES), min_length=1)
    rules: list[str] | None = None
    repeat: bool = True
    to: list[str] = Field(min_length=1)

    @field_validator("severity", mode="before")
    @classmethod
    def _one_severity(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("centers")
    @classmethod
    def _codes(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [_check_code(code) for code in value]

    @field_validator("rules")
    @classmethod
    def _patterns(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [check_rule_pattern(p) for p in value]


class RoutingFile(_Strict):
    settings: NotifySettings = Field(default_factory=NotifySettings)
    recipients: list[Recipient] = Field(min_length=1)
    directors: dict[str, str] = Field(default_factory=dict)
    routes: list[RouteSpec] = Field(default_factory=list)

    @field_validator("directors")
    @classmethod
    def _director_codes(cls, value: dict[str, str]) -> dict[str, str]:
        for code in value:
            _check_code(code)
        return value


# -- what the rest of the package uses ----------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One route with its recipients resolved."""

    name: str
    centers: tuple[str, ...] | None
    below: bool
    severity: frozenset[str]
    rules: tuple[str, ...] | None
    to: tuple[Recipient, ...]
    repeat: bool = True

    def matches(self, alert: Mapping[str, Any]) -> bool:
        center = str(alert.get("center_id", ""))
        if self.centers is not None and not any(
            center_matches(scope, center, self.below) for scope in self.centers
        ):
            return False
        if str(alert.get("severity")) not in self.severity:
            return False
        rule_id = str(alert.get("rule_id", ""))
        return self.rules is None or any(rule_matches(p, rule_id) for p in self.rules)


def recipients(alert: Mapping[str, Any], routes: Iterable[Route]) -> list[Recipient]:
    """The recipients of every route matching `alert` (its `center_id`, `severity` and
    `rule_id`), each once (by id), in the order of the routes."""
    chosen: dict[str, Recipient] = {}
    for route in routes:
        if route.matches(alert):
            for recipient in route.to:
                chosen.setdefault(recipient.id, recipient)
    return list(chosen.values())


class Routing:
    """A loaded routing file: settings, routes, recipients and directors."""

    def __init__(
        self,
        routes: Iterable[Route],
        recipients: Iterable[Recipient],
        directors: Mapping[str, str] | None = None,
        settings: NotifySettings | None = None,
    ) -> None:
        self.routes = list(routes)
        self._recipients = {r.id: r for r in recipients}
        self._directors = dict(directors or {})
        self.settings = settings or NotifySettings()

    def recipients(self, alert: Mapping[str, Any]) -> list[Recipient]:
        return recipients(alert, self.routes)

    def repeated_to(self, alert: Mapping[str, Any]) -> set[str]:
        """The ids of the recipients a repeat of `alert` goes to: those of the matching
        routes that do not say `repeat: false`."""
        return {r.id for r in recipients(alert, [r for r in self.routes if r.repeat])}

    def with_settings(self, **changes: Any) -> Routing:
        """The same routes with some settings changed (validated as in the file)."""
        settings = NotifySettings.model_validate({**self.settings.model_dump(), **changes})
        return Routing(self.routes, self._recipients.values(), self._directors, settings)

    def recipient(self, recipient_id: str) -> Recipient | None:
        return self._recipients.get(recipient_id)

    def director_of(self, center_code: str) -> Recipient | None:
        """The director listed for exactly this center (no fallback to the level above)."""
        ident = self._directors.get(center_code)
        return None if ident is None else self._recipients.get(ident)

    def escalation_chain(self, center_code: str) -> list[tuple[str, Recipient]]:
        """The centers above `center_code` that have a director, nearest first, with the
        director: the order in which an unacknowledged red alert climbs. A level with no
        director listed is passed over (the alert goes on to the next one up)."""
        chain = []
        for code in ancestors(center_code):
            director = self.director_of(code)
            if director is not None:
                chain.append((code, director))
        return chain


#: Rules whose alerts the service raises itself, outside the rule book: a routing file may
#: name them like any rule (a late reply to a supervision order escalates like any red).
SERVICE_RULES: Final = (orders.RULE_ID,)


def known_rule_ids(book_ids: Iterable[str]) -> list[str]:
    """Every rule id an alert may carry: the rule book's and SERVICE_RULES."""
    return [*book_ids, *SERVICE_RULES]


def load_routing(path: Path | str, known_rules: Collection[str] | None = None) -> Routing:
    """Read and check a routing file; raise RoutingError naming the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RoutingError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    try:
        document = yaml.safe_load(text)
        tree = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise RoutingError(not_yaml(path, exc)) from None

    def refuse(problem: str, loc: Iterable[str | int]) -> RoutingError:
        return RoutingError(f"{path}:{_line(tree, list(loc))}: {problem}")

    duplicate = _duplicate_key(tree)
    if duplicate is not None:
        line, key = duplicate
        raise RoutingError(f"{path}:{line}: {key!r} is given twice in one mapping")
    if not isinstance(document, dict):
        raise RoutingError(
            f"{path}:1: a routing file is a mapping with settings, recipients, directors and routes"
        )
    try:
        spec = RoutingFile.model_validate(document)
    except ValidationError as exc:
        problem, loc = _first_error(exc)
        key = problem.split(": ", 2)[1] if problem.count(": ") >= 2 else ""
        if key and _is_key(document, [*loc, key]):  # a check across fields names its key
            loc = [*loc, key]
        raise refuse(_labelled(document, problem, loc), loc) from None

    seen: dict[str, int] = {}
    for index, recipient in enumerate(spec.recipients):
        if recipient.id in seen:
            raise refuse(
                f"recipients.{index}.id: {recipient.id!r} is already the id of recipients."
                f"{seen[recipient.id]}",
                ["recipients", index, "id"],
            )
        seen[recipient.id] = index
    by_id = {r.id: r for r in spec.recipients}
    known = ", ".join(sorted(by_id))
    for code, ident in spec.directors.items():
        if ident not in by_id:
            raise refuse(
                f"directors.{code}: unknown recipient {ident!r}; known: {known}",
                ["directors", code],
            )
    routes = []
    for index, route in enumerate(spec.routes):
        label = f"routes.{index}" + (f" ({route.name})" if route.name else "")
        for position, ident in enumerate(route.to):
            if ident not in by_id:
                raise refuse(
                    f"{label}: to.{position}: unknown recipient {ident!r}; known: {known}",
                    ["routes", index, "to", position],
                )
        if route.rules is not None and known_rules is not None:
            for position, pattern in enumerate(route.rules):
                if not any(rule_matches(pattern, rule) for rule in known_rules):
                    raise refuse(
                        f"{label}: rules.{position}: {pattern!r} matches no rule in force",
                        ["routes", index, "rules", position],
                    )
        if not route.enabled:
            continue
        routes.append(
            Route(
                name=route.name or f"routes.{index}",
                centers=None if route.centers is None else tuple(route.centers),
                below=route.below,
                severity=frozenset(route.severity),
                rules=None if route.rules is None else tuple(route.rules),
                to=tuple(by_id[ident] for ident in dict.fromkeys(route.to)),
                repeat=route.repeat,
            )
        )
    return Routing(routes, spec.recipients, spec.directors, spec.settings)


def _labelled(document: Mapping[str, Any], problem: str, loc: list[str | int]) -> str:
    """`routes.2.severity.0: …` as `routes.2 (南丹县): severity.0: …` when the route has a
    name, and recipients by their id, so the reader finds the entry at once."""
    if len(loc) >= 2 and loc[0] in ("routes", "recipients") and isinstance(loc[1], int):
        entries = document.get(str(loc[0]))
        if isinstance(entries, list) and loc[1] < len(entries):
            entry = entries[loc[1]]
            name = (
                entry.get("name" if loc[0] == "routes" else "id")
                if isinstance(entry, dict)
                else None
            )
            prefix = f"{loc[0]}.{loc[1]}"
            if name and problem.startswith(prefix):
                rest = problem[len(prefix) :].lstrip(".").removeprefix(": ")
                return f"{prefix} ({name}): {rest}"
    return problem


def _is_key(document: Any, path: list[str | int]) -> bool:
    node = document
    for step in path:
        found = (isinstance(node, dict) and step in node) or (
            isinstance(node, list) and isinstance(step, int) and step < len(node)
        )
        if not found:
            return False
        node = node[step]
    return True


def _duplicate_key(node: yaml.Node | None) -> tuple[int, str] | None:
    """The first key given twice in one mapping (YAML would silently keep the last)."""
    if isinstance(node, yaml.MappingNode):
        keys: set[str] = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in keys:
                    return key.start_mark.line + 1, str(key.value)
                keys.add(key.value)
            found = _duplicate_key(value)
            if found is not None:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            found = _duplicate_key(item)
            if found is not None:
                return found
    return None
