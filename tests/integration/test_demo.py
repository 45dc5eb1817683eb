"""`supervisor demo` as a person runs it: the wall fills within a minute, the item
catalogue's rules among its alerts (the demo judges by the simulated Hechi catalogue);
Ctrl-C leaves no process behind (its own Kafka broker included, when it started one)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from supervisor.kafka import local
from supervisor.settings import Settings

from .conftest import free_port

pytestmark = pytest.mark.integration

#: The item catalogue's rules (contract §8) the backlog shows at once: overrun stages of
#: late cases, and acceptances the catalogue does not list or promises it does not allow.
CATALOGUE_RULES = {"stage.overdue", "catalogue.unknown_item", "catalogue.limit_mismatch"}


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def get_alerts(port: int, token: str) -> list[dict[str, Any]]:
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/alerts?limit=500&token={token}", timeout=2
        ) as r:
            data = json.loads(r.read())
    except OSError:
        return []
    return list(data["items"])


def test_demo_fills_the_wall_within_a_minute_and_stops_cleanly(tmp_path: Path) -> None:
    run = uuid.uuid4().hex[:8]
    web_port = free_port()
    env = {
        **os.environ,
        "SUPERVISOR_TOPIC_EVENTS": f"demo-events-{run}",
        "SUPERVISOR_TOPIC_ALERTS": f"demo-alerts-{run}",
        "SUPERVISOR_TOPIC_DLQ": f"demo-events-{run}.dlq",
        "SUPERVISOR_APP_ID": f"demo-{run}",
        "SUPERVISOR_DATA_DIR": str(tmp_path / "data"),
        "SUPERVISOR_WEB_PORT": str(web_port),
        "SUPERVISOR_WORKER_WEB_PORT": str(free_port()),
    }
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        env["SUPERVISOR_KAFKA_PORT"] = str(free_port())  # its own broker, started and stopped
    out = (tmp_path / "demo.out").open("w+")
    demo = subprocess.Popen(
        [sys.executable, "-m", "supervisor.cli", "demo"],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
    )
    family: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while "/wall/" not in Path(out.name).read_text() and time.monotonic() < deadline:
            assert demo.poll() is None, Path(out.name).read_text()
            time.sleep(0.5)
        printed = Path(out.name).read_text()
        found = re.search(rf"http://127\.0\.0\.1:{web_port}/wall/\?token=(\S+)", printed)
        assert found, printed  # the wall's URL with an inspector's token
        token = found.group(1)
        url_shown = time.monotonic()
        alerts: list[dict[str, Any]] = []
        while time.monotonic() - url_shown < 60:
            alerts = get_alerts(web_port, token)
            severities = {a["severity"] for a in alerts}
            catalogued = {a["rule_id"] for a in alerts} & CATALOGUE_RULES
            centers = {a["center_id"] for a in alerts}
            if severities == {"red", "yellow"} and len(centers) >= 5 and catalogued:
                break
            time.sleep(1)
        waited = time.monotonic() - url_shown
        assert {a["severity"] for a in alerts} == {"red", "yellow"}, f"after {waited:.0f}s"
        assert len({a["center_id"] for a in alerts}) >= 5
        rules = {a["rule_id"] for a in alerts}
        assert rules & CATALOGUE_RULES, f"no catalogue rule after {waited:.0f}s: {rules}"
        assert f"[demo] rules: {tmp_path / 'data' / 'demo-rules'}" in Path(out.name).read_text()
        print(
            f"red and yellow alerts from {len({a['center_id'] for a in alerts})} centers "
            f"{waited:.1f}s after the URL was printed; catalogue rules: "
            f"{sorted(rules & CATALOGUE_RULES)}"
        )
        family = descendants(demo.pid)
        assert len(family) >= 3  # worker, web, simulator (and the broker when it is ours)
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=60)
        finally:
            for pid in descendants(demo.pid) | family:
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
            if "SUPERVISOR_KAFKA_PORT" in env:  # its own broker's data, logs and run files
                own = local.Layout.of(Settings.from_env(env))
                for directory in (own.data_dir, own.logs_dir, own.run_dir):
                    shutil.rmtree(directory, ignore_errors=True)
    assert demo.returncode == 0, Path(out.name).read_text()[-3000:]
    left = [pid for pid in family if alive(pid)]
    assert left == [], f"processes left behind: {left}"
