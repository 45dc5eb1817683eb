"""Kafka plumbing of the project: a local KRaft broker for development and tests
(`supervisor.kafka.local`, `supervisor kafka ...` commands) and topic administration
(`supervisor.kafka.admin`).

Kept import-light on purpose: the rule engine core must not depend on this package (see
the import-linter contract), and importing it must not pull aiokafka until it is used.
"""
