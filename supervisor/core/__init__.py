"""The pure rule-engine core: events, working-time calendar, rules, case state, engine.

Nothing in this package does I/O beyond reading rule files, and nothing reads a clock:
time is always an argument. The Faust worker, the web service and `supervisor replay`
drive the same objects, so live and replay raise the same alerts. The import-linter
contract in pyproject.toml keeps Kafka, web and metrics libraries out of here.
"""
