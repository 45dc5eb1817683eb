"""The worker creates its topics with the retention ops asked for: the alert journal kept
forever by default (the audit trail), facts and dead letters for a set number of days;
and its tables' changelogs, before Faust starts."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from supervisor.settings import Settings
from supervisor.worker.main import create_topics

pytestmark = pytest.mark.integration


async def config_of(bootstrap: str, topics: list[str], name: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in topics]
        )
    finally:
        await admin.close()
    found: dict[str, str] = {}
    for response in responses:
        for resource in response.resources:  # (error, message, type, name, entries)
            for entry in resource[4]:
                if entry[0] == name:
                    found[resource[3]] = entry[1]
    return found


async def test_topics_are_created_with_their_retention(kafka_bootstrap: str) -> None:
    run = uuid.uuid4().hex[:8]
    settings = Settings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "SUPERVISOR_TOPIC_EVENTS": f"events-{run}",
            "SUPERVISOR_TOPIC_ALERTS": f"alerts-{run}",
            "SUPERVISOR_TOPIC_DLQ": f"events-{run}.dlq",
            "SUPERVISOR_TOPIC_FACTS": f"facts-{run}",
            "SUPERVISOR_APP_ID": f"topics-{run}",
            "SUPERVISOR_FACTS_RETENTION_DAYS": "2",
            "SUPERVISOR_PARTITIONS": "2",
        }
    )
    await create_topics(settings)
    await create_topics(settings)  # again: existing topics are left as they are
    found = await config_of(
        kafka_bootstrap,
        [settings.topic_alerts, settings.topic_facts, settings.topic_dlq],
        "retention.ms",
    )
    assert found == {
        settings.topic_alerts: "-1",  # forever
        settings.topic_facts: str(2 * 86_400_000),
        settings.topic_dlq: str(30 * 86_400_000),  # the default
    }
    # the tables' changelogs exist before Faust starts, compacted as Faust makes them, the
    # centers table's with its one partition
    changelogs = [f"topics-{run}-{table}-changelog" for table in ("cases", "handled", "centers")]
    policies = await config_of(kafka_bootstrap, changelogs, "cleanup.policy")
    assert policies == dict.fromkeys(changelogs, "compact")
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(changelogs)
    finally:
        await admin.close()
    assert {t["topic"]: len(t["partitions"]) for t in described} == {
        changelogs[0]: 2,
        changelogs[1]: 2,
        changelogs[2]: 1,
    }
