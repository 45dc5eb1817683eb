"""pytest plugin: a real Kafka broker for the integration tests.

Registered from tests/conftest.py (`pytest_plugins = ["tests.kafka_fixtures"]`) or with
`-p tests.kafka_fixtures`. Why a plugin and not a skip-if-absent marker: the project's
guarantees only hold on a real broker, so a missing broker must fail the run loudly.

* `kafka_bootstrap` (session): KAFKA_BOOTSTRAP_SERVERS (through Settings) if set, else the
  project's local broker, started once per run or reused if already up; stopped at the
  end only if this fixture started it (a developer's running broker is left alone), and
  then its data directory is deleted: a run creates thousands of throwaway topics, and a
  broker that has to load those of every earlier run could no longer start in time.
* `topic_name` (function): a factory of fresh, unique topic names, so tests sharing one
  broker never read each other's messages.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator

import pytest

from supervisor.kafka import local
from supervisor.settings import Settings


@pytest.fixture(scope="session")
def kafka_settings() -> Settings:
    """The Settings the broker fixtures use (from the environment, like every process)."""
    return Settings.from_env()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_settings: Settings) -> Iterator[str]:
    """Bootstrap servers of a broker that answers; fails (never skips) if there is none."""
    if not kafka_settings.uses_local_kafka:
        yield kafka_settings.bootstrap_servers
        return
    try:
        broker = local.start_broker(kafka_settings)
    except Exception as exc:  # any cause: Maven, Java, port in use, timeout
        pytest.fail(f"could not start the local Kafka broker: {exc}", pytrace=False)
    try:
        yield broker.bootstrap
    finally:
        if broker.started:
            local.stop(kafka_settings)
            shutil.rmtree(local.Layout.of(kafka_settings).data_dir, ignore_errors=True)


@pytest.fixture
def topic_name() -> Callable[..., str]:
    """Call it for a new topic name: `topic_name()` or `topic_name("alerts")`."""

    def make(prefix: str = "test") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    return make
