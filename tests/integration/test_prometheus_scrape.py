"""The real Prometheus (Debian's 2.42, /usr/bin/prometheus) scraping a real worker, web
service and notifier on the real broker, with the alerting rules of
dashboards/prometheus/alerts.yml loaded.

The Prometheus configuration is the repository's (dashboards/prometheus/prometheus.yml:
its jobs, the web job's bearer token file, its rule files) with the compose service
names replaced by 127.0.0.1 ports and every interval cut to a second. The test makes a
few things happen: valid events that raise alerts (one red, sent by the notifier to a
webhook whose secret is missing: a dead letter), malformed messages (dead letters of the
worker) and a case whose deadline reaches into a year with no official holiday schedule;
then it asks Prometheus's HTTP API whether the targets are up, every rule evaluates, and
the expected alerts are pending or firing, and checks that every metric the rules and
the Grafana dashboard use is on the real scrapes, which `promtool check metrics` finds
clean.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from supervisor.auth import TokenStore
from supervisor.core.calendar import last_confirmed_year
from supervisor.notify.service import ensure_notify_topics
from supervisor.settings import Settings
from tests.core.factories import event_doc
from tests.processes import spawn, terminate
from tests.test_compose import (
    ALERTS,
    PROMETHEUS,
    PROMETHEUS_SERIES,
    alert_rules,
    dashboard_expressions,
    promql_series,
)

from .conftest import CLOCK_START, free_port, running_worker, wait_ready, worker_env
from .kafka_io import produce

pytestmark = pytest.mark.integration

T = TypeVar("T")

#: Alerts this test makes happen, and must see pending or firing.
EXPECTED = {
    "SupervisorDeadLetterRateHigh",  # five malformed messages for a few valid events
    "SupervisorCalendarUnconfirmed",  # a deadline in the year after the last confirmed one
    "SupervisorNotificationsDeadLettered",  # a red alert to a webhook without its secret
}
#: Alerts that depend on the hour the suite runs (office hours in Shanghai, see
#: alerts.yml): they may be pending, nothing else may.
HOUR_DEPENDENT = {"SupervisorNoEvents", "SupervisorCenterNoEvents"}

ROUTING = """
settings:
  digest_minutes: 0.1
  repeat_minutes: 0
  escalate_after_working_hours: 0
  hold_outside_office_hours: false
recipients:
  - id: director-test
    name: 测试中心主任
    role: director
    center: "451227"
    channels:
      # No such variable in the environment: each delivery fails for good at once.
      webhook: {url: "http://127.0.0.1:9/hook", secret_env: SUPERVISOR_TEST_UNSET_SECRET}
routes:
  - name: 全部
    to: [director-test]
"""


@dataclass(frozen=True)
class System:
    prometheus: str  # http://127.0.0.1:port
    scrapes: dict[str, str]  # job -> the /metrics URL
    web_token: str  # the ops token Prometheus uses
    bootstrap: str
    events: str
    logs: list[Path]

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.prometheus}/api/v1/{path}{query}", timeout=5) as r:
            body = json.loads(r.read())
        assert body["status"] == "success", body
        return body["data"]

    def scrape(self, job: str) -> str:
        request = urllib.request.Request(self.scrapes[job])
        if job == "supervisor-web":
            request.add_header("Authorization", f"Bearer {self.web_token}")
        with urllib.request.urlopen(request, timeout=5) as response:
            return str(response.read().decode())

    def tail(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-2000:]}" for log in self.logs)


def eventually(probe: Callable[[], T | None], timeout: float, what: str, system: System) -> T:
    """Poll `probe` until it returns something truthy; fail with the logs otherwise."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except OSError:
            last = None
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})\n{system.tail()}")


def prometheus_config(ports: dict[str, int], token_file: Path) -> dict[str, Any]:
    """The repository's configuration, aimed at 127.0.0.1 and sped up."""
    config = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = [str(PROMETHEUS.parent / name) for name in config["rule_files"]]
    assert config["rule_files"] == [str(ALERTS)]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == set(ports), f"the test knows the jobs {sorted(ports)}, not {sorted(jobs)}"
    for name, job in jobs.items():
        job["scrape_interval"] = "1s"
        job.pop("dns_sd_configs", None)
        job["static_configs"] = [{"targets": [f"127.0.0.1:{ports[name]}"]}]
        if "authorization" in job:
            job["authorization"]["credentials_file"] = str(token_file)
    assert isinstance(config, dict)
    return config


@pytest.fixture(scope="module")
def system(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not Path(binary).is_file():
        pytest.fail("prometheus is missing: run scripts/bootstrap (Debian's prometheus)")
    home = tmp_path_factory.mktemp("prometheus-scrape")
    env = worker_env(kafka_bootstrap, home, uuid.uuid4().hex[:8])
    routing = home / "routing.yaml"
    routing.write_text(ROUTING, encoding="utf-8")
    tokens = home / "tokens.json"
    token = TokenStore(tokens).issue("ops", "prometheus")
    token_file = home / "prometheus-web-token"
    token_file.write_text(token + "\n", encoding="utf-8")
    web_port, notify_port, prometheus_port = free_port(), free_port(), free_port()
    env.update(
        SUPERVISOR_WEB_PORT=str(web_port),
        SUPERVISOR_TOKENS_FILE=str(tokens),
        SUPERVISOR_NOTIFY_PORT=str(notify_port),
        SUPERVISOR_NOTIFY_ROUTING=str(routing),
        SUPERVISOR_NOTIFY_START="beginning",
        SUPERVISOR_NOTIFY_TICK_SECONDS="0.2",
    )
    env.pop("SUPERVISOR_TEST_UNSET_SECRET", None)
    settings = Settings.from_env(env)
    ports = {
        "supervisor-worker": settings.worker_web_port,
        "supervisor-web": web_port,
        "supervisor-notify": notify_port,
    }
    config = home / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(ports, token_file)), encoding="utf-8")
    logs = [home / name for name in ("worker.log", "web.log", "notify.log", "prometheus.log")]
    with running_worker(env, logs[0]) as worker:
        asyncio.run(ensure_notify_topics(settings))
        web = spawn(["web"], env, logs[1])
        notify = spawn(["notify"], env, logs[2])
        with logs[3].open("ab") as out:
            prometheus = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={home / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prometheus_port}",
                    "--log.level=warn",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            for url, process in (
                (f"http://127.0.0.1:{web_port}/healthz", web),
                (f"http://127.0.0.1:{notify_port}/healthz", notify),
                (f"http://127.0.0.1:{prometheus_port}/-/ready", prometheus),
            ):
                if not wait_ready(url, process, timeout=60):
                    tails = "\n".join(log.read_text()[-2000:] for log in logs if log.exists())
                    raise AssertionError(f"{url} not ready\n{tails}")
            yield System(
                prometheus=f"http://127.0.0.1:{prometheus_port}",
                scrapes={job: f"http://127.0.0.1:{port}/metrics" for job, port in ports.items()},
                web_token=token,
                bootstrap=worker.bootstrap,
                events=worker.events,
                logs=logs,
            )
        finally:
            for process in (prometheus, notify, web):
                terminate(process, timeout=20)


def active_alerts(system: System) -> dict[str, str]:
    """alertname -> state (pending or firing) of the alerts Prometheus holds now."""
    return {a["labels"]["alertname"]: a["state"] for a in system.api("alerts")["alerts"]}


def scrape_names(text: str) -> set[str]:
    """Metric names on a scrape: the families of its # TYPE lines (a labelled family with
    no child yet has only these), their conventional sample names, and every sample."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split(" ", 3)
            names.add(family)
            if kind == "counter":
                names.add(family if family.endswith("_total") else f"{family}_total")
            elif kind == "histogram":
                names.update(f"{family}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def test_prometheus_scrapes_the_service_and_evaluates_the_alerting_rules(
    system: System,
) -> None:
    def targets_up() -> dict[str, str] | None:
        active = system.api("targets")["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in active}
        return health if len(health) == 3 and set(health.values()) == {"up"} else None

    eventually(targets_up, 60, "every target up", system)

    # Valid events: a case concluded at once (a red and a yellow alert), and one whose
    # promised limit reaches into the first year with no official holiday schedule.
    unconfirmed = last_confirmed_year() + 1
    suffix = uuid.uuid4().int % 10**7
    quick, long = f"451227-2026-{suffix:07d}", f"451227-2026-{(suffix + 1) % 10**7:07d}"
    accepted_at = CLOCK_START.replace("09:00", "08:40")
    valid = [
        (
            quick,
            event_doc(
                "accepted",
                accepted_at,
                case_id=quick,
                center_id="451227",
                item_code="451227-XK-0001",
                promised_limit={"value": 1, "unit": "working_day"},
            ),
        ),
        (
            quick,
            event_doc(
                "concluded",
                CLOCK_START.replace("09:00", "08:41"),
                case_id=quick,
                center_id="451227",
            ),
        ),
        (
            long,
            event_doc(
                "accepted",
                accepted_at,
                case_id=long,
                center_id="451227",
                item_code="451227-XK-0001",
                promised_limit={"value": 60, "unit": "working_day"},
            ),
        ),
    ]
    malformed: list[tuple[str, bytes | dict[str, Any]]] = [
        (f"bad-{n}", b"{not json") for n in range(5)
    ]
    asyncio.run(produce(system.bootstrap, system.events, [*valid, *malformed]))

    def rules_evaluated() -> list[dict[str, Any]] | None:
        rules = [r for g in system.api("rules")["groups"] for r in g["rules"]]
        return rules if rules and all(r["health"] != "unknown" for r in rules) else None

    def expected_alerts() -> dict[str, str] | None:
        alerts = active_alerts(system)
        return alerts if set(alerts) >= EXPECTED else None

    alerts = eventually(expected_alerts, 60, f"the alerts {sorted(EXPECTED)}", system)
    rules = eventually(rules_evaluated, 30, "every rule evaluated", system)
    # Every rule of the file is loaded and evaluates without error on real series.
    assert {r["name"] for r in rules} == {r["alert"] for r in alert_rules()}
    broken = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
    assert not broken, broken
    assert set(alerts.values()) <= {"pending", "firing"}
    unexpected = set(active_alerts(system)) - EXPECTED - HOUR_DEPENDENT
    assert not unexpected, f"alerts that should be quiet: {sorted(unexpected)}"
    # The labels the alerts carry come from the real series.
    by_name = {a["labels"]["alertname"]: a for a in system.api("alerts")["alerts"]}
    assert by_name["SupervisorCalendarUnconfirmed"]["labels"]["year"] == str(unconfirmed)
    assert by_name["SupervisorNotificationsDeadLettered"]["labels"]["channel"] == "webhook"
    assert by_name["SupervisorCalendarUnconfirmed"]["annotations"]["summary_zh"].startswith(
        f"{unconfirmed} 年"
    )


def test_every_metric_the_rules_and_the_dashboard_use_is_on_the_real_scrape(
    system: System,
) -> None:
    scraped: set[str] = set()
    for job in system.scrapes:
        scraped |= scrape_names(system.scrape(job))
    used: dict[str, str] = {}
    for rule in alert_rules():
        used.update((name, rule["alert"]) for name in promql_series(rule["expr"]))
    for where, expr in dashboard_expressions():
        used.update((name, f"dashboard {where}") for name in promql_series(expr))
    missing = {name: where for name, where in used.items() if name not in scraped}
    missing = {n: w for n, w in missing.items() if n not in PROMETHEUS_SERIES}
    assert not missing, f"used but not on any real scrape: {missing}"
    # And Prometheus stored series of the core ones (not only their # TYPE lines).
    stored = set(system.api("label/__name__/values"))
    for name in (
        "supervisor_worker_events_rejected_total",
        "supervisor_worker_consumer_lag",
        "supervisor_calendar_unconfirmed_year",
        "supervisor_web_kafka_connected",
        "supervisor_notify_dead_letters_total",
        "ALERTS",
    ):
        assert name in stored, name


#: Grafana's variables, as the dashboard's queries would be sent with them.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "5m", "$center": ".*"}


def test_every_dashboard_query_runs_on_the_real_prometheus(system: System) -> None:
    failures = {}
    for where, expr in dashboard_expressions():
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"{where}: an unknown Grafana variable in {expr}"
        try:
            system.api("query", query=expr)
        except urllib.error.HTTPError as error:  # 400: the query does not parse or run
            failures[where] = error.read().decode(errors="replace")
    assert not failures, failures


@pytest.mark.parametrize("job", ["supervisor-worker", "supervisor-web", "supervisor-notify"])
def test_promtool_finds_the_real_scrapes_clean(system: System, job: str) -> None:
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    text = system.scrape(job)
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    problems = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and not problems, problems
