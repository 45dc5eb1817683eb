"""docs/metrics.md is the catalogue ops read: it must name every metric the code exports,
with the labels the code uses, and nothing the code does not export; and every metric
must follow the conventions the catalogue promises."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from supervisor.notify.metrics import NotifyMetrics
from supervisor.web.metrics import WebMetrics
from supervisor.worker.clock import jump_counter
from supervisor.worker.metrics import WorkerMetrics, rejection_reason

CATALOGUE = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
ROW = re.compile(r"^\| `(supervisor_[a-z_]+)` \| (counter|gauge|histogram) \|([^|]*)\|", re.M)
#: Labels whose values are unbounded (one series per case or person): never allowed.
UNBOUNDED = {"case_id", "alert_id", "event_id", "applicant", "token", "recipient", "user"}


def _worker(registry: CollectorRegistry) -> None:
    WorkerMetrics.create(registry)
    jump_counter(registry)  # created by the worker's clock (supervisor/worker/clock.py)


def _web(registry: CollectorRegistry) -> None:
    WebMetrics(registry).watch(lambda: [{"red": 1, "yellow": 0}], lambda: 3)


def _notify(registry: CollectorRegistry) -> None:
    NotifyMetrics.create(registry)


PROCESSES: dict[str, Callable[[CollectorRegistry], None]] = {
    "worker": _worker,
    "web": _web,
    "notify": _notify,
}


def exported() -> dict[str, tuple[str, frozenset[str]]]:
    """name as scraped (counters with `_total`) -> (type, label names), from the code."""
    found: dict[str, tuple[str, frozenset[str]]] = {}
    for make in PROCESSES.values():
        registry = CollectorRegistry()
        make(registry)
        # The client keeps each collector's label names privately; the samples of a
        # labelled metric with no child yet would not show them.
        for collector in list(registry._collector_to_names):
            labels = frozenset(getattr(collector, "_labelnames", ()))
            kind = {Counter: "counter", Gauge: "gauge", Histogram: "histogram"}.get(type(collector))
            for family in collector.collect():
                name = family.name + ("_total" if family.type == "counter" else "")
                if kind is None:  # a custom collector: labels from its samples
                    labels = frozenset(k for s in family.samples for k in s.labels)
                found[name] = (kind or family.type, labels)
    return found


def documented() -> dict[str, tuple[str, frozenset[str]]]:
    rows = ROW.findall(CATALOGUE.read_text(encoding="utf-8"))
    return {
        name: (kind, frozenset(re.findall(r"`([a-z_]+)`", labels))) for name, kind, labels in rows
    }


def test_the_catalogue_names_every_exported_metric_and_nothing_else() -> None:
    code, doc = exported(), documented()
    assert sorted(set(code) - set(doc)) == [], "exported but not in docs/metrics.md"
    assert sorted(set(doc) - set(code)) == [], "in docs/metrics.md but not exported"


def test_the_catalogue_gives_each_metric_its_type_and_labels() -> None:
    code, doc = exported(), documented()
    wrong = {name: (doc[name], code[name]) for name in code if doc.get(name) != code[name]}
    assert wrong == {}


@pytest.mark.parametrize("name", sorted(exported()))
def test_names_follow_the_prometheus_conventions(name: str) -> None:
    kind, labels = exported()[name]
    assert name.startswith("supervisor_")
    assert (kind == "counter") == name.endswith("_total")
    if kind == "histogram":
        assert name.endswith("_seconds"), "durations in seconds"
    assert not re.search(r"_(ms|milliseconds|minutes|hours|bytes_kb)\b", name), "base units"
    assert not labels & UNBOUNDED, "a label with one value per case or person"


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        ("not UTF-8 text", "malformed"),
        ("not JSON: Expecting value at line 1 column 1", "malformed"),
        ("number 1e999 is out of range", "malformed"),
        ("an event must be a JSON object", "malformed"),
        ("occurred_at: Field required", "invalid"),
        ("payload.fee_charged: must be a number", "invalid"),
        ("engine error: KeyError('x')", "engine_error"),
        ("from the future: occurred_at is 1 d ahead", "future"),
        ("payload.reason: the future of the case", "invalid"),
    ],
)
def test_dead_letter_reasons_map_to_a_bounded_label(reason: str, label: str) -> None:
    assert rejection_reason(reason) == label


def test_the_lifecycle_changes_of_each_action_are_exported_at_zero_from_the_start() -> None:
    """A `rate()` over a series needs a sample before its first increment: the actions are
    a fixed set, so each series exists at 0 before anyone acts."""
    from prometheus_client import generate_latest

    from supervisor.lifecycle import ACTIONS

    registry = CollectorRegistry()
    _web(registry)
    scraped = generate_latest(registry).decode()
    for action in ACTIONS:
        assert f'supervisor_web_lifecycle_changes_total{{action="{action}"}} 0.0' in scraped
