"""How the garbage collector runs in the service's long-running processes.

Why: a worker judges thousands of events a second, each allocating a few dozen container
objects (the decoded event, its payload, the alerts, the staged state's documents).
CPython's default policy runs a young collection every 700 allocations, every few events,
and each collection also walks what survived the ones before, the cached case states
among them. Reference counting frees almost all of it at once anyway; the collector is
only needed for reference cycles, which are rare here.

`tune()` is called once the process has loaded what it keeps for its whole life (modules,
rules, calendars, the app's wiring): that is frozen (`gc.freeze()`: never walked again),
and a young collection waits for 50,000 allocations. Cycles are still collected, only in
larger and fewer rounds. Measured in bench/RESULTS.md (the worker's CPU an event).
"""

from __future__ import annotations

import gc
from typing import Final

#: Allocations between two young collections (CPython's default: 700) ...
YOUNG: Final = 50_000
#: ... young collections between two middle ones, middle ones between two full ones
#: (defaults 10 and 10; CPython also waits for a quarter of the heap to be new).
MIDDLE: Final = 50
FULL: Final = 100


def tune() -> None:
    """Freeze what was allocated so far, and collect young objects less often."""
    gc.collect()  # what start-up threw away is not frozen with the rest
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, FULL)
