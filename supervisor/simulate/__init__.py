"""The simulator: Hechi's centers sending case events, for demos and load.

`catalogue` is Hechi's item catalogue as the simulator uses it (the same file the demo's
engine judges by, contract §8; `make_catalogue` generates it from `templates`),
`scenario` plans case stories (pure), `producer.simulate` publishes them to Kafka.
`simulate` is imported lazily so that planning stories never loads the Kafka client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from supervisor.simulate.catalogue import Catalogue, Item, Limit, Step
from supervisor.simulate.scenario import IRREGULARITIES, CaseStory, Scenario

if TYPE_CHECKING:
    from supervisor.simulate.producer import simulate as simulate

__all__ = [
    "IRREGULARITIES",
    "CaseStory",
    "Catalogue",
    "Item",
    "Limit",
    "Scenario",
    "Step",
    "simulate",
]


def __getattr__(name: str) -> Any:
    if name == "simulate":
        from supervisor.simulate.producer import simulate

        return simulate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
