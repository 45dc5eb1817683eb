"""`create_app` wires every concern of the worker onto its Faust app, without a broker:
the agents, the tables, the timers and the recovery; the parts follow a reload."""

from __future__ import annotations

from pathlib import Path

from supervisor.settings import Settings
from supervisor.worker.app import create_app
from supervisor.worker.parts import Parts
from supervisor.worker.process import SOURCE_QUEUE_ITEMS
from supervisor.worker.reload import load_engine

#: Every timer of a worker with the rules reload on (timers.py, centers.py, watchdog.py,
#: reload.py).
TIMERS = {
    "fire_due_deadlines",
    "look_for_skipped",
    "write_batches",
    "write_settled",
    "count_unlogged_alerts",
    "send_failed_again",
    "export_lag",
    "tick_centers",
    "flush_notes",
    "watch_for_stalls",
    "reload_rules",
}


def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {"SUPERVISOR_DATA_DIR": str(tmp_path / "data"), "SUPERVISOR_STORE": "memory://"}
    )


def test_every_concern_is_installed_on_the_app(tmp_path: Path) -> None:
    worker = create_app(settings(tmp_path))
    app = worker.app
    assert set(app.agents) == {"cases", "centers"}
    assert set(app.tables.keys()) == {"cases", "handled", "centers"}
    timers = {task.__name__ for task in app._app_tasks}  # Faust's list of timers and tasks
    assert timers == TIMERS
    # a reload re-indexes through the recovery (recovery.install)
    assert getattr(worker.reindex, "__qualname__", "") == "Recovery.reindex"


def test_the_case_events_come_a_fetch_at_a_time_into_a_short_queue(tmp_path: Path) -> None:
    """The case events are handed over a fetch at a time (transport.Fetched), the ticks
    one by one; the agent's stream queues a few items, so a backlog is not pulled into
    memory a fetch of thousands of events per item (Faust's bound is 4,096 items)."""
    config = settings(tmp_path)
    worker = create_app(config)
    transport = worker.app.transport
    assert getattr(transport, "fetched_topics", None) == frozenset({config.topic_events})
    agent = worker.app.agents["cases"]
    assert agent.channel.maxsize == SOURCE_QUEUE_ITEMS == 16
    assert agent.channel.queue.maxsize == SOURCE_QUEUE_ITEMS  # the stream's own queue


def test_the_parts_read_the_engine_in_force(tmp_path: Path) -> None:
    config = settings(tmp_path)
    parts = Parts.build(config)
    assert parts.engine() is parts.worker.engine
    other = load_engine(config.rules_dir, config.timezone, parts.centers.name)
    parts.worker.engine = other  # what Worker.use_engine does at a reload
    assert parts.engine() is other
    assert parts.store._engine() is other  # the store reads the one in force too


def test_the_disabled_watchdog_adds_no_timer(tmp_path: Path) -> None:
    config = settings(tmp_path).with_(stall_seconds=0.0, rules_reload_seconds=0.0)
    worker = create_app(config)
    timers = {task.__name__ for task in worker.app._app_tasks}
    assert timers == TIMERS - {"watch_for_stalls", "reload_rules"}
