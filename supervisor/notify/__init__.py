"""Notifications of alerts to the people who must act on them.

The pure core (no Kafka, no network, no clock: time is an argument):

- `routing`: the routing file `rules/notify/routing.yaml` (who receives what, by center,
  severity and rule; the directors for escalation; the timings), parsed strictly with
  file:line errors.
- `plan`: the decisions as a state machine over `NotifyState` (JSON): red at once, yellow
  in digests, repeats, escalation up the hierarchy in office hours, idempotent ids.
- `silences`: silences with their audit records.
- `texts`: the zh-CN subject and bodies (plain text and HTML), personal data masked.

The channels (webhook, email) and their retries are in `webhook`, `email` and `retry`.
"""
