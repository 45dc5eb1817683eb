"""Topic administration through aiokafka's admin client.

Why explicit topics: Faust and the tests need a known partition count (a table must be
co-partitioned with its source topic), while broker-side auto-creation uses the broker's
default. `ensure_topics` creates what is missing with the asked partition count and never
touches a topic that already exists.

Message sizes, set on purpose so that each limit is inside the next (the two Kafka
numbers are Kafka's and Faust's defaults, written down so that nothing rests on a default):

1. the service's own bounds: an event 64 KiB (supervisor.core.events.MAX_EVENT_BYTES),
   a dead letter ~70 KiB (supervisor.deadletters.RECORD_MAX), a case's stored state
   512 KiB (supervisor.worker.refusals.CASE_STATE_MAX_BYTES), a tick batch ~100 KiB;
2. PRODUCER_MAX_REQUEST_SIZE, 1,000,000 bytes: the largest record the worker's producer
   sends (Faust's `producer_max_request_size`, aiokafka's `max_request_size`);
3. MESSAGE_MAX_BYTES, 1,048,588 bytes: every topic's `max.message.bytes` (set here at
   creation; Faust's changelogs inherit the broker's) and the broker's
   `message.max.bytes` (supervisor/kafka/server.properties).

So whatever the worker produces, the producer accepts, and whatever the producer
accepts, every topic stores: no send can fail for its size. The case-events topic
accepts up to MESSAGE_MAX_BYTES too, on purpose: a center's message over the contract's
64 KiB must reach the worker, to be dead-lettered with its reason, rather than fail at
the center's producer with a broker error nobody here sees.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

log = logging.getLogger(__name__)

#: `max.message.bytes` of every topic the service creates, and the broker's
#: `message.max.bytes` (supervisor/kafka/server.properties; docker-compose.yml): Kafka's
#: default, explicit.
MESSAGE_MAX_BYTES = 1_048_588
#: `max.request.size` of the worker's producer (Faust's `producer_max_request_size`): the
#: largest record it sends. Under MESSAGE_MAX_BYTES, so the broker stores what it sends.
PRODUCER_MAX_REQUEST_SIZE = 1_000_000
#: What every topic created here gets unless `configs` says otherwise.
DEFAULT_TOPIC_CONFIGS: Mapping[str, str] = {"max.message.bytes": str(MESSAGE_MAX_BYTES)}


async def ensure_topics(
    bootstrap: str,
    topics: Mapping[str, int],
    *,
    replication_factor: int = 1,
    configs: Mapping[str, Mapping[str, str]] | None = None,
    timeout: float = 30.0,
) -> None:
    """Create each missing topic of `topics` (name -> partitions); leave existing ones alone.

    `configs` gives topic-level settings (e.g. `retention.ms`) to the topics it names, at
    creation only: a retention changed on an existing topic is the cluster admins' call
    (`kafka-configs.sh --alter`), not something a starting worker should overwrite. Every
    topic created gets DEFAULT_TOPIC_CONFIGS (its size limit) unless `configs` overrides
    it.

    Idempotent and race-tolerant: a topic created meanwhile by someone else (another
    process, broker auto-creation) is fine. Returns only when every topic is visible in the
    metadata with a leader for each partition, so a producer or consumer can use it at
    once. A pre-existing topic with another partition count is logged, not changed (Kafka
    cannot shrink partitions, and growing them would move keys between partitions).
    """
    for name, partitions in topics.items():
        if partitions < 1:
            raise ValueError(f"topic {name!r}: partitions must be >= 1, not {partitions}")
    if not topics:
        return
    admin = _admin(bootstrap, timeout)
    try:
        async with asyncio.timeout(timeout):
            await admin.start()
            existing = set(await admin.list_topics())
            wanted = configs or {}
            missing = [
                NewTopic(
                    name,
                    n,
                    replication_factor,
                    topic_configs={**DEFAULT_TOPIC_CONFIGS, **wanted.get(name, {})},
                )
                for name, n in topics.items()
                if name not in existing
            ]
            if missing:
                await _create(admin, missing, timeout)
            await _wait_visible(admin, topics)
    finally:
        await admin.close()


async def partitions_of(
    bootstrap: str, names: list[str], *, timeout: float = 10.0
) -> dict[str, list[int]]:
    """The partition numbers of each topic of `names` that exists (a missing one is left
    out). Asked of the cluster: a consumer's own metadata knows only the topics it
    subscribed to, and one that assigns partitions itself must learn them first."""
    admin = _admin(bootstrap, timeout)
    try:
        async with asyncio.timeout(timeout):
            await admin.start()
            existing = set(await admin.list_topics())
            asked = [name for name in names if name in existing]
            described = await admin.describe_topics(asked) if asked else []
    finally:
        await admin.close()
    return {
        topic["topic"]: sorted(p["partition"] for p in topic["partitions"])
        for topic in described
        if topic["error_code"] == 0 and topic["partitions"]
    }


def _admin(bootstrap: str, timeout: float) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="supervisor-admin",
        request_timeout_ms=int(timeout * 1000),
    )


async def _create(admin: Any, missing: list[Any], timeout: float) -> None:
    """Send CreateTopics; the response carries one error code per topic instead of raising."""
    try:
        response = await admin.create_topics(missing, timeout_ms=int(timeout * 1000))
    except TopicAlreadyExistsError:
        return
    for error in response.topic_errors:
        topic, code = error[0], error[1]
        message = error[2] if len(error) > 2 else None
        if code == 0:
            log.info("created topic %s", topic)
        elif code != TopicAlreadyExistsError.errno:
            raise for_code(code)(f"cannot create topic {topic!r}: {message or ''}".rstrip(": "))


async def _wait_visible(admin: Any, topics: Mapping[str, int]) -> None:
    """Poll metadata until every topic has all its partitions led (creation is async)."""
    names = list(topics)
    while True:
        described = {t["topic"]: t for t in await admin.describe_topics(names)}
        if all(_ready(described.get(name)) for name in names):
            break
        await asyncio.sleep(0.1)
    for name, wanted in topics.items():
        have = len(described[name]["partitions"])
        if have != wanted:
            log.warning(
                "topic %s exists with %d partitions, not %d: left unchanged", name, have, wanted
            )


def _ready(topic: dict[str, Any] | None) -> bool:
    return (
        topic is not None
        and topic["error_code"] == 0
        and bool(topic["partitions"])
        and all(p["error_code"] == 0 and p["leader"] >= 0 for p in topic["partitions"])
    )
