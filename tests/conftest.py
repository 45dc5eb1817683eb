"""Shared test set-up: the real-broker fixtures are a plugin (tests/kafka_fixtures.py)."""

pytest_plugins = ["tests.kafka_fixtures"]
