"""The notifier's own new deliveries are never taken for dead-letter replays, on the real
broker, with the delivery loop looking at the outbox every millisecond (as forced in the
field, where 60 of 100 keys were then delivered twice: `commit` waited for the broker
before it put the new deliveries in the outbox, and the follower of the state topic read
them back first, counted each as a replay and inserted a copy).

Run as a module (`python -m tests.integration.test_notify_race notify ...`), this file is
`supervisor` with DELIVERY_POLL at 1 ms: the test starts the notifier that way.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import pytest

from supervisor.notify.email import message_id_for
from tests.processes import spawn, terminate

from .conftest import wait_ready
from .kafka_io import produce, wait_for
from .test_notify import CLOCK_START, TOWNSHIP, _ensure, alert, make_setup, metrics_text, receiver
from .test_notify_ha import counting_smtp

pytestmark = pytest.mark.integration

#: The delivery loop's poll in this test (seconds; 0.2 in production).
FAST_POLL = 0.001


async def test_a_hundred_alerts_with_a_1_ms_delivery_poll_are_each_delivered_once(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    setup = make_setup(kafka_bootstrap, tmp_path)
    await asyncio.to_thread(_ensure, setup)
    bootstrap, journal = setup.settings.bootstrap_servers, setup.settings.topic_alerts
    with counting_smtp(setup.settings.smtp_port) as mailbox:
        async with receiver(setup.http_port) as hooks:
            process = spawn(
                ["-m", __name__, "notify", "--clock-start", CLOCK_START], setup.env, setup.log
            )
            try:
                url = f"http://127.0.0.1:{setup.settings.notify_port}/healthz"
                ready = await asyncio.to_thread(wait_ready, url, process, 60)
                assert ready, setup.log.read_text()[-3000:]
                run = uuid.uuid4().int % 10**5
                alerts = [alert(run * 1000 + n, TOWNSHIP, "red") for n in range(100)]
                await produce(bootstrap, journal, [(a["alert_id"], a) for a in alerts])
                ids = [f"{a['alert_id']}:director-township:alert:0" for a in alerts]
                mails = {message_id_for(i, setup.settings.smtp_sender) for i in ids}
                assert await wait_for(lambda: set(ids) <= set(hooks.delivered()), 60)
                assert await wait_for(lambda: mails <= set(mailbox.delivered()), 60)
                await asyncio.sleep(3)  # time for a second delivery, if one were to come
                twice = [k for k, n in hooks.delivered().items() if n > 1]
                assert not twice, f"{len(twice)} of 100 keys delivered twice: {twice[:3]}"
                assert set(hooks.delivered()) == set(ids)
                assert max(mailbox.delivered().values()) == 1, mailbox.delivered().most_common(3)
                assert "supervisor_notify_replays_total 0.0" in metrics_text(setup)
                assert "replay of" not in setup.log.read_text(errors="replace")
                assert f"delivery poll {FAST_POLL}" in setup.log.read_text(errors="replace")
            finally:
                terminate(process)


if __name__ == "__main__":
    import logging

    from supervisor.cli import main
    from supervisor.notify import service

    service.DELIVERY_POLL = FAST_POLL  # type: ignore[misc]
    logging.getLogger("supervisor.notify").warning("delivery poll %s s (test)", FAST_POLL)
    sys.argv = ["supervisor", *sys.argv[1:]]
    main()
