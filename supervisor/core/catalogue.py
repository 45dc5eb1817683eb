"""The item catalogue (事项库, contract §8): what each item's limits and steps should be.

A center declares its promised limit on every `accepted` event; the catalogue says what
the item's limits are by the office's own list, so the engine can check the declaration
(`catalogue.limit_mismatch`), notice items nobody catalogued (`catalogue.unknown_item`)
and time each handling step on its own (`stage.overdue`), instead of only the whole case.

Configuration, beside the rules: every `*.yaml` file in `<rules dir>/catalogue/`, each a
mapping with one key, `items`, a list of items. Loaded and validated strictly, as the rule
files are: an unknown key, a wrong type, a duplicate item code or step is refused with the
file and the line. No `catalogue/` folder (or no file in it) means no catalogue, and the
catalogue's rules are silent.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from supervisor.core.numerals import limit_label
from supervisor.core.yaml_lines import line_of, not_yaml


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CatalogueLimit(_Strict):
    """A time limit as `promised_limit` writes it (contract §1)."""

    value: float = Field(gt=0, le=3650)
    unit: Literal["working_day", "natural_day"]

    def label(self) -> str:
        return limit_label(self.value, self.unit)


class CatalogueStep(_Strict):
    """One handling step (环节) of an item: the `step` name `step_completed` reports, and
    how long the step may take from its start."""

    step: str = Field(min_length=1, max_length=128)
    name: str | None = Field(default=None, max_length=128)  # 环节名称, for people
    limit: CatalogueLimit


class Item(_Strict):
    """One catalogued item (事项) of a center."""

    item_code: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=256)
    department: str | None = Field(default=None, max_length=128)
    promised_limit: CatalogueLimit
    statutory_limit: CatalogueLimit | None = None
    fee_standard: float = Field(default=0.0, ge=0)
    immediate: bool = False
    steps: list[CatalogueStep] = Field(default_factory=list, max_length=64)

    @field_validator("steps")
    @classmethod
    def _steps_once_each(cls, steps: list[CatalogueStep]) -> list[CatalogueStep]:
        seen: set[str] = set()
        for step in steps:
            if step.step in seen:
                raise ValueError(f"step {step.step!r} is listed twice")
            seen.add(step.step)
        return steps


class CatalogueError(ValueError):
    """A catalogue file that cannot be loaded; the message names the file and the line."""


class Catalogue:
    """Every catalogued item by its code. Immutable: a reload builds a new one."""

    def __init__(self, items: Mapping[str, Item]) -> None:
        self._items = dict(items)

    def get(self, item_code: str) -> Item | None:
        return self._items.get(item_code)

    def __contains__(self, item_code: object) -> bool:
        return item_code in self._items

    def __iter__(self) -> Iterator[Item]:
        return iter(self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    @property
    def has_steps(self) -> bool:
        """Whether any item has steps (only then are stages timed)."""
        return any(item.steps for item in self._items.values())

    @classmethod
    def load(cls, directory: Path | str) -> Catalogue | None:
        """The catalogue in `directory` (the rules directory's `catalogue/`), or None when
        there is none. Raises CatalogueError naming the file and line of a bad entry."""
        folder = Path(directory)
        if not folder.is_dir():
            return None
        files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
        if not files:
            return None
        items: dict[str, Item] = {}
        where: dict[str, str] = {}
        for path in files:
            for item, line in _load_file(path):
                if item.item_code in items:
                    raise CatalogueError(
                        f"{path}:{line}: item {item.item_code!r} is already catalogued "
                        f"({where[item.item_code]})"
                    )
                items[item.item_code] = item
                where[item.item_code] = f"{path.name}:{line}"
        return cls(items)


def _load_file(path: Path) -> list[tuple[Item, int]]:
    text = path.read_text(encoding="utf-8")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogueError(not_yaml(path, exc)) from None
    if not isinstance(document, dict) or set(document) != {"items"}:
        raise CatalogueError(f"{path}:1: a catalogue file is a mapping with one key, 'items'")
    tree = yaml.compose(text)
    entries = document["items"] or []
    if not isinstance(entries, list):
        raise CatalogueError(f"{path}:{line_of(tree, ['items'])}: 'items' must be a list")
    loaded = []
    for index, entry in enumerate(entries):
        label = f"items[{index}]"
        if isinstance(entry, dict) and isinstance(entry.get("item_code"), str):
            label += f" ({entry['item_code']})"
        try:
            item = Item.model_validate(entry)
        except ValidationError as exc:
            error = exc.errors()[0]
            loc = list(error["loc"])
            place = ".".join(str(part) for part in loc)
            message = error["msg"].removeprefix("Value error, ")
            line = line_of(tree, ["items", index, *loc])
            problem = f"{place}: {message}" if place else message
            raise CatalogueError(f"{path}:{line}: {label}: {problem}") from None
        loaded.append((item, line_of(tree, ["items", index])))
    return loaded
