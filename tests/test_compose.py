"""The deployment files agree with the code, checked without Docker.

docker-compose.yml, the Dockerfile, dashboards/prometheus/ (the scrape configuration and
the alerting rules) and the Grafana provisioning are parsed and compared with what the
code defines: the environment variables of `supervisor.settings.ENVIRONMENT` (and the
table of docs/configuration.md, which must document every variable the compose file uses),
the ports and topics of `Settings`, the `supervisor` console script and its commands, and
the metric names registered by the worker's, the web service's and the notifier's metrics
classes (so renaming a metric, a label or a port fails here, not silently on a dashboard
or in an alert). tests/integration/test_prometheus_scrape.py checks the same names
against a real scrape.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from collections.abc import Iterator, Mapping
from fnmatch import fnmatch
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import typer
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from supervisor.cli import app as cli_app
from supervisor.settings import ENVIRONMENT, PROJECT_ROOT, Settings
from supervisor.web.routes.pages import WALL_DIR
from tests.test_metrics_catalogue import PROCESSES

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PROMETHEUS_DIR = ROOT / "dashboards" / "prometheus"
PROMETHEUS = PROMETHEUS_DIR / "prometheus.yml"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
DOCS = ROOT / "docs"
CONFIGURATION_DOC = DOCS / "configuration.md"
DEPLOYMENT_DOC = DOCS / "deployment.md"
OPERATIONS_DOC = DOCS / "operations.md"
GRAFANA = ROOT / "dashboards" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "supervisor.json"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "supervisor.yml"

#: The services that run the project's image, and the `supervisor` command each runs.
ROLES = {"worker": "worker", "web": "web", "notify": "notify", "simulator": "simulate"}
SERVICES = {*ROLES, "kafka", "prometheus", "grafana"}
#: Series that Prometheus itself adds to every scrape, and the labels it attaches.
PROMETHEUS_SERIES = {"up", "ALERTS", "ALERTS_FOR_STATE"}
PROMETHEUS_LABELS = {"job", "instance", "alertname", "alertstate"}


# -- loading ---------------------------------------------------------------------------


@cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    value = services[name]
    assert isinstance(value, dict)
    return value


def environment(name: str) -> dict[str, str]:
    """A service's `environment:`, in either of compose's forms (mapping or KEY=value list)."""
    raw = service(name).get("environment") or {}
    if isinstance(raw, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in raw)
        return dict(pairs)
    return dict(raw)


def command(name: str) -> list[str]:
    raw = service(name).get("command")
    assert raw, f"service {name} has no command"
    return shlex.split(raw) if isinstance(raw, str) else [str(part) for part in raw]


def container_ports(name: str) -> set[int]:
    """Container-side ports published by a service ("8000:8000", "127.0.0.1:80:8000/tcp"...)."""
    ports: set[int] = set()
    for entry in service(name).get("ports") or []:
        if isinstance(entry, dict):
            ports.add(int(entry["target"]))
        else:
            ports.add(int(str(entry).split("/")[0].rsplit(":", 1)[-1]))
    return ports


def volume_mounts(name: str) -> dict[str, str]:
    """Mount target -> source of a service's short-syntax volumes."""
    mounts: dict[str, str] = {}
    for entry in service(name).get("volumes") or []:
        if isinstance(entry, dict):
            mounts[entry["target"]] = str(entry.get("source", ""))
        elif ":" not in str(entry):
            mounts[str(entry)] = ""  # an anonymous volume: one per container
        else:
            source, target = str(entry).split(":")[:2]
            mounts[target] = source
    return mounts


def healthcheck_url(name: str) -> tuple[int, str]:
    """(port, path) of the http://... URL a service's healthcheck asks."""
    check = service(name).get("healthcheck")
    assert check and not check.get("disable"), f"service {name} has no healthcheck"
    test = check["test"]
    text = test if isinstance(test, str) else " ".join(test)
    found = re.search(r"https?://[^/:'\"\s]+:(\d+)(/[^'\"\s]*)", text)
    assert found, f"service {name}: no http URL with a port in its healthcheck: {text}"
    return int(found[1]), found[2]


@cache
def scripts() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return dict(project["project"]["scripts"])


@cache
def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        text = pending + stripped
        pending = ""
        keyword, _, arguments = text.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    assert not pending, "Dockerfile ends inside a continued line"
    return instructions


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, arguments in dockerfile():
        if keyword != "ENV":
            continue
        parts = shlex.split(arguments)
        if parts and "=" not in parts[0]:  # legacy `ENV NAME value`
            env[parts[0]] = " ".join(parts[1:])
        else:
            for part in parts:
                var, _, value = part.partition("=")
                env[var] = value
    return env


def image_copies() -> dict[str, PurePosixPath]:
    """Build-context source -> absolute destination of each COPY, following WORKDIR."""
    workdir = PurePosixPath("/")
    copies: dict[str, PurePosixPath] = {}
    for keyword, arguments in dockerfile():
        if keyword == "WORKDIR":
            workdir = workdir / arguments
        elif keyword == "COPY":
            parts = [part for part in shlex.split(arguments) if not part.startswith("--")]
            *sources, destination = parts
            target = workdir / destination
            for source in sources:
                name = source.rstrip("/")
                many = len(sources) > 1 or destination.endswith("/") or name == "."
                copies[name] = target / name if many and name != "." else target
    return copies


def exec_form(keyword: str) -> list[str] | None:
    """The last CMD or ENTRYPOINT, which must be in exec (JSON) form; None when absent."""
    found = [arguments for kw, arguments in dockerfile() if kw == keyword]
    if not found:
        return None
    value = json.loads(found[-1])
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), (
        f"{keyword} must be in exec form (a JSON list), not {found[-1]!r}"
    )
    return value


def settings_of(name: str) -> Settings:
    """The Settings the service's process builds: image ENV overridden by compose."""
    return Settings.from_env({**image_env(), **environment(name)})


def parse_cli(argv: list[str]) -> str:
    """Parse `supervisor <command> [options]` like the CLI would, without running it."""
    assert argv, "an empty command"
    group = typer.main.get_command(cli_app)
    name, *rest = argv
    commands: Mapping[str, Any] = getattr(group, "commands", {})
    assert name in commands, f"`supervisor {name}` is not a command ({sorted(commands)})"
    commands[name].make_context(name, list(rest))  # raises on unknown or invalid options
    return name


# -- the metrics the code defines ------------------------------------------------------


@cache
def defined_metrics() -> tuple[frozenset[str], frozenset[str]]:
    """(sample names, label names) exposed by the worker's, the web's and the notifier's
    metrics: each process's metrics as tests/test_metrics_catalogue.py builds them (its
    PROCESSES, the one list of what the code exports), on a fresh registry; every
    labelled metric gets one probe child so that its samples (`_total`, `_bucket`...)
    appear in `registry.collect()`.
    """
    names: set[str] = set()
    labels: set[str] = set()
    for build in PROCESSES.values():
        registry = CollectorRegistry()
        build(registry)
        for collector in list(registry._collector_to_names):
            if isinstance(collector, MetricWrapperBase) and collector._labelnames:
                collector.labels(*["probe"] * len(collector._labelnames))
        for family in registry.collect():
            for sample in family.samples:
                names.add(sample.name)
                labels.update(sample.labels)
    return frozenset(names), frozenset(labels)


# -- PromQL, enough of it to list the series and labels a query uses -------------------

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool"}
_KEYWORDS |= {"and", "or", "unless", "atan2", "offset", "inf", "nan"}
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_MATCHERS = re.compile(r"\{([^}]*)\}")
_MATCHER = re.compile(r'([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*("(?:\\.|[^"\\])*")')
_IDENTIFIER = re.compile(r"[A-Za-z_:][\w:]*")


def promql_series(expr: str) -> set[str]:
    """Metric names in a PromQL expression (not functions, keywords, labels or strings)."""
    text = re.sub(r"\$\{[^}]*\}|\$\w+", "", expr)  # Grafana variables
    text = _STRING.sub('""', text)
    text = _MATCHERS.sub("", text)
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    text = re.sub(r"\boffset\s+-?[\w.]+", " ", text)
    text = _GROUPING.sub(" ", text)
    text = re.sub(r"\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b", " ", text)  # numbers
    series = set()
    for match in _IDENTIFIER.finditer(text):
        word = match.group()
        if word.lower() in _KEYWORDS or re.match(r"\s*\(", text[match.end() :]):
            continue  # a keyword, or a function / aggregation call
        series.add(word)
    return series


def promql_labels(expr: str) -> set[str]:
    text = _STRING.sub('""', expr)
    labels: set[str] = set()
    for group in _GROUPING.findall(text):
        labels.update(name.strip() for name in group.split(",") if name.strip())
    for block in _MATCHERS.findall(text):
        labels.update(name for name, _, _ in _MATCHER.findall(block))
    return labels


def promql_matchers(expr: str) -> Iterator[tuple[str, str, str]]:
    for block in _MATCHERS.findall(expr):
        for name, operator, quoted in _MATCHER.findall(block):
            yield name, operator, json.loads(quoted)


def test_the_promql_reader() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le) "
        '(rate(a_bucket{job=~"x-.*", b="c"}[$__rate_interval])))'
        " / on (instance) group_left 60 * sum(b_total offset 5m) or vector(0)"
    )
    assert promql_series(expr) == {"a_bucket", "b_total"}
    assert promql_labels(expr) == {"le", "job", "b", "instance"}
    assert list(promql_matchers(expr)) == [("job", "=~", "x-.*"), ("b", "=", "c")]


# -- docker-compose.yml ----------------------------------------------------------------


def test_the_services_exist() -> None:
    assert set(compose()["services"]) >= SERVICES


@pytest.mark.parametrize("name", sorted(ROLES))
def test_supervisor_services_build_this_repository(name: str) -> None:
    build = service(name).get("build")
    context = build if isinstance(build, str) else (build or {}).get("context")
    assert context in (".", "./"), f"{name} must be built from the repository root"
    dockerfile_name = (
        "Dockerfile" if isinstance(build, str) else (build or {}).get("dockerfile", "Dockerfile")
    )
    assert (ROOT / dockerfile_name).is_file()


@pytest.mark.parametrize("name", sorted(ROLES))
def test_commands_are_the_console_script(name: str) -> None:
    argv = command(name)
    assert argv[0] in scripts(), f"{name}: {argv[0]!r} is not a console script of pyproject.toml"
    assert scripts()[argv[0]] == "supervisor.cli:main"
    assert parse_cli(argv[1:]) == ROLES[name]


@pytest.mark.parametrize("name", sorted(ROLES))
def test_environment_uses_only_settings_variables(name: str) -> None:
    env = environment(name)
    assert env, f"{name} has no environment"
    ours = {var for var in env if var.startswith(("SUPERVISOR_", "KAFKA_"))}
    unknown = ours - set(ENVIRONMENT)
    assert not unknown, f"{name}: not in supervisor.settings.ENVIRONMENT: {sorted(unknown)}"
    assert "KAFKA_BOOTSTRAP_SERVERS" in env, f"{name} would start the local broker"
    # Compose passes strings; a YAML number or boolean is converted by compose, not by us.
    assert all(isinstance(value, str) for value in env.values()), f"{name}: quote the values"


@pytest.mark.parametrize("name", sorted(ROLES))
def test_settings_load_from_the_service_environment(name: str) -> None:
    settings = settings_of(name)
    assert not settings.uses_local_kafka


@pytest.mark.parametrize("name", sorted(ROLES))
def test_bootstrap_servers_are_the_kafka_advertised_listener(name: str) -> None:
    kafka_env = environment("kafka")
    advertised = {
        listener.split("://", 1)[1]
        for listener in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    }
    kafka_hosts = {"kafka", service("kafka").get("hostname", "kafka")}
    for server in settings_of(name).bootstrap_servers.split(","):
        assert server in advertised, f"{name}: {server} is not advertised by kafka ({advertised})"
        assert server.rsplit(":", 1)[0] in kafka_hosts
    depends = service(name).get("depends_on")
    assert isinstance(depends, dict), f"{name}: depends_on must give conditions"
    assert depends["kafka"]["condition"] == "service_healthy"


def test_the_supervisor_services_agree_with_each_other_and_the_broker() -> None:
    def shared(settings: Settings) -> tuple[object, ...]:
        return (
            settings.bootstrap_servers,
            settings.topic_events,
            settings.topic_alerts,
            settings.topic_dlq,
            settings.app_id,
            settings.partitions,
            settings.timezone,
        )

    worker = settings_of("worker")
    for name in ROLES:
        assert shared(settings_of(name)) == shared(worker), f"{name} disagrees with the worker"
    # Topics a producer creates before the worker does get the worker's partition count.
    assert int(environment("kafka")["KAFKA_NUM_PARTITIONS"]) == worker.partitions


def test_the_web_port_is_published_and_checked() -> None:
    settings = settings_of("web")
    assert settings.web_host == "0.0.0.0", "the web service must listen beyond the container"
    assert settings.web_port in container_ports("web")
    assert healthcheck_url("web") == (settings.web_port, "/healthz")


def interpolate_default(value: object) -> str:
    """The value compose gives `${VAR:-default}` (or `${VAR-default}`) when VAR is unset."""
    return re.sub(r"\$\{\w+:?-([^}]*)\}", r"\1", str(value))


def test_each_worker_replica_keeps_its_own_state() -> None:
    settings = settings_of("worker")
    assert healthcheck_url("worker") == (settings.worker_web_port, "/healthz")
    # RocksDB files are per replica: an anonymous volume (one per container, kept across
    # restarts); a named volume or a bind mount would be shared by every replica.
    mounts = volume_mounts("worker")
    assert str(settings.data_dir) in mounts, f"SUPERVISOR_DATA_DIR={settings.data_dir} is no volume"
    assert mounts[str(settings.data_dir)] == "", "the workers' data must be one volume per replica"
    worker = service("worker")
    assert "container_name" not in worker, "a container name forbids replicas"
    assert not worker.get("ports"), "replicas cannot share a host port: use expose"
    assert settings.worker_web_port in {int(p) for p in worker.get("expose", [])}


def test_the_number_of_workers_is_a_documented_variable() -> None:
    replicas = service("worker")["deploy"]["replicas"]
    assert re.fullmatch(r"\$\{SUPERVISOR_WORKER_REPLICAS:-\d+\}", str(replicas)), replicas
    count = int(interpolate_default(replicas))
    assert 1 <= count <= settings_of("worker").partitions, "more workers than partitions idle"
    assert "SUPERVISOR_WORKER_REPLICAS" in documented_variables()
    assert "--scale worker=" in DEPLOYMENT_DOC.read_text(encoding="utf-8")


def test_the_notifier_is_checked_on_its_port() -> None:
    settings = settings_of("notify")
    assert settings.web_host == "0.0.0.0"
    assert healthcheck_url("notify") == (settings.notify_port, "/healthz")
    assert settings.notify_port in {int(p) for p in service("notify").get("expose", [])}
    routing = PurePosixPath(str(settings.notify_routing))
    mounts = volume_mounts("notify")
    assert any(
        routing.is_relative_to(target) and (ROOT / source).is_dir()
        for target, source in mounts.items()
        if source.startswith("./")
    ), f"the routing file {routing} is not mounted from the repository"


def test_two_notifiers_run_one_active_the_other_standing_by() -> None:
    """Two replicas of the notifier (supervisor/notify/service.py: one consumer group on a
    one-partition control topic makes one of them active): each its own container, none
    tied to a host port, both health-checked (a standby answers 200 too, or compose would
    call it unhealthy), and no state of their own on disk (it is all in Kafka)."""
    notify = service("notify")
    replicas = notify.get("deploy", {}).get("replicas")
    assert replicas is not None and int(interpolate_default(replicas)) == 2, replicas
    assert "scale" not in notify, "one way to say how many: deploy.replicas"
    assert "container_name" not in notify, "a container name forbids replicas"
    assert not notify.get("ports"), "replicas cannot share a host port: use expose"
    assert healthcheck_url("notify") == (settings_of("notify").notify_port, "/healthz")
    assert all(source.startswith("./") for source in volume_mounts("notify").values()), (
        "a notifier keeps no state on a volume: two replicas would share or lose it"
    )


def test_every_service_restarts_and_long_running_ones_are_health_checked() -> None:
    for name, config in compose()["services"].items():
        assert config.get("restart") in ("unless-stopped", "always", "on-failure"), name
        if name != "simulator":  # a producer with no port: it just runs or restarts
            check = config.get("healthcheck")
            assert check and check.get("test") and not check.get("disable"), name


def test_state_lives_in_volumes() -> None:
    named = set(compose().get("volumes") or {})
    expected = {
        "kafka": environment("kafka")["KAFKA_LOG_DIRS"],
        "web": str(settings_of("web").data_dir),
        "prometheus": "/prometheus",
        "grafana": "/var/lib/grafana",
    }
    for name, path in expected.items():
        assert volume_mounts(name).get(path) in named, f"{name}: {path} is not a named volume"
    used = {source for name in compose()["services"] for source in volume_mounts(name).values()}
    assert named <= used, f"volumes declared but not used: {sorted(named - used)}"


@pytest.mark.parametrize("name", sorted(set(ROLES) - {"worker"}))
def test_the_worker_creates_the_topics_before_the_others_start(name: str) -> None:
    """A topic auto-created by a producer or consumer would get the broker's default
    partition count; the alert journal must have exactly one partition."""
    depends = service(name).get("depends_on")
    assert isinstance(depends, dict) and depends.get("worker", {}).get("condition") == (
        "service_healthy"
    ), f"{name} must wait for a healthy worker"


def test_the_simulator_runs_only_in_the_demo_profile() -> None:
    assert service("simulator").get("profiles") == ["demo"]
    for name in SERVICES - {"simulator"}:
        assert not service(name).get("profiles"), f"{name} must run without a profile"


def test_kafka_is_a_single_node_kraft_cluster() -> None:
    env = environment("kafka")
    assert service("kafka")["image"].startswith("apache/kafka:")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    listeners = dict(
        (entry.split("://")[0], entry.rsplit(":", 1)[1])
        for entry in env["KAFKA_LISTENERS"].split(",")
    )
    assert listeners == {"PLAINTEXT": "9092", "CONTROLLER": "9093"}
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"
    for var, value in env.items():
        if var.endswith(("_REPLICATION_FACTOR", "_MIN_ISR", "MIN_INSYNC_REPLICAS")):
            assert value == "1", f"{var} must be 1 on a single node"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == "0"
    assert env["KAFKA_LOG_DIRS"] in volume_mounts("kafka"), "the broker's data must be a volume"
    assert service("kafka").get("healthcheck"), "depends_on: service_healthy needs one"


# -- Prometheus and Grafana ------------------------------------------------------------


@cache
def prometheus_config() -> dict[str, Any]:
    config = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))
    assert isinstance(config, dict)
    return config


@cache
def prometheus_jobs() -> dict[str, dict[str, Any]]:
    return {job["job_name"]: job for job in prometheus_config()["scrape_configs"]}


def prometheus_flags() -> dict[str, str]:
    flags = {}
    for part in service("prometheus").get("command") or []:
        name, _, value = str(part).partition("=")
        flags[name] = value
    return flags


def in_prometheus(path: str) -> Path:
    """The repository file that the prometheus container sees at `path` (a bind mount)."""
    for target, source in volume_mounts("prometheus").items():
        if source.startswith("./") and PurePosixPath(path).is_relative_to(target):
            return ROOT / source / PurePosixPath(path).relative_to(target)
    raise AssertionError(f"{path} is not mounted from the repository into prometheus")


def test_prometheus_loads_the_repository_configuration_and_rules() -> None:
    config_path = prometheus_flags()["--config.file"]
    assert in_prometheus(config_path) == PROMETHEUS
    assert prometheus_flags().get("--storage.tsdb.path") in volume_mounts("prometheus")
    rule_files = prometheus_config()["rule_files"]
    loaded = {in_prometheus(str(PurePosixPath(config_path).parent / name)) for name in rule_files}
    assert loaded == {ALERTS}
    # The web job's token file is mounted from secrets/prometheus/ (kept out of the
    # repository), and nothing else of secrets/: the notifier's passwords stay out of it.
    token = prometheus_jobs()["supervisor-web"]["authorization"]["credentials_file"]
    assert in_prometheus(token).parent == ROOT / "secrets" / "prometheus"
    sources = set(volume_mounts("prometheus").values())
    assert "./secrets" not in sources and "./secrets/prometheus" in sources


def test_the_unauthenticated_consoles_are_not_open_to_the_network() -> None:
    """Prometheus has no sign-in (the city's figures, which the web service's /metrics
    keeps behind an ops token): published on the host's loopback only. Grafana's
    administrator password has no default: compose refuses to start without one."""
    (published,) = service("prometheus")["ports"]
    assert str(published).startswith("127.0.0.1:")
    password = service("grafana")["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert password == "${GRAFANA_ADMIN_PASSWORD:?set GRAFANA_ADMIN_PASSWORD}"


def test_every_process_that_reads_the_rules_reads_the_same_files() -> None:
    """The workers, the web service (its rule page, the calendars that date orders, the
    assessment scheme) and the notifier read the host's rules/, in one time zone: an edit
    never leaves the console judging by other rules than the workers."""
    for name in ("worker", "web", "notify"):
        assert volume_mounts(name).get("/app/rules") == "./rules", name
    for name in ("worker", "web", "notify", "simulator"):
        assert environment(name).get("SUPERVISOR_TIMEZONE") == "Asia/Shanghai", name


def test_prometheus_scrapes_every_worker_the_web_service_and_the_notifier() -> None:
    jobs = prometheus_jobs()
    static = {"supervisor-web": f"web:{settings_of('web').web_port}"}
    for job, target in static.items():
        assert job in jobs, f"no scrape job {job}"
        config = jobs[job]
        targets = [t for group in config["static_configs"] for t in group["targets"]]
        assert targets == [target]
        assert target.split(":")[0] in compose()["services"]
    # Every worker and notifier replica is a target of its own: DNS service discovery on
    # the service name, which compose's DNS answers with the address of each replica.
    replicas = {
        "supervisor-worker": ("worker", settings_of("worker").worker_web_port),
        "supervisor-notify": ("notify", settings_of("notify").notify_port),
    }
    for job, (service, port) in replicas.items():
        (discovery,) = jobs[job]["dns_sd_configs"]
        assert discovery["names"] == [service] and discovery.get("type", "SRV") == "A"
        assert discovery["port"] == port
        assert "static_configs" not in jobs[job]
        assert service in compose()["services"]
    for config in jobs.values():
        assert config.get("metrics_path", "/metrics") == "/metrics"
        assert config.get("scrape_interval", "15s") == "15s"


@cache
def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


SEVERITIES = {"critical", "warning", "info"}
ANNOTATIONS = {"summary", "summary_zh", "description", "description_zh", "runbook"}
_CJK = re.compile(r"[\u4e00-\u9fff]")


def check_job_matchers(where: str, expr: str) -> None:
    jobs = set(prometheus_jobs())
    for name, operator, value in promql_matchers(expr):
        if name == "job":
            matching = (
                {j for j in jobs if re.fullmatch(value, j)} if "~" in operator else {value} & jobs
            )
            assert matching, f"{where}: job matcher {value!r} matches no scrape job"


def test_the_alerting_rules_use_only_metrics_the_code_defines() -> None:
    names, labels = defined_metrics()
    assert alert_rules(), "no alerting rule"
    for rule in alert_rules():
        where, expr = rule["alert"], rule["expr"]
        series = promql_series(expr)
        assert series, f"{where}: no metric in {expr!r}"
        unknown = series - names - PROMETHEUS_SERIES
        assert not unknown, f"{where}: {sorted(unknown)} is not a metric of the code"
        if "histogram_quantile" in expr:
            assert all(name.endswith("_bucket") for name in series), where
        unknown_labels = promql_labels(expr) - labels - PROMETHEUS_LABELS
        assert not unknown_labels, f"{where}: no metric has the labels {sorted(unknown_labels)}"
        check_job_matchers(where, expr)
        texts = " ".join(rule["annotations"].values())
        for label in re.findall(r"\$labels\.(\w+)", texts):
            assert label in labels | PROMETHEUS_LABELS, f"{where}: annotation label {label}"


def test_every_alert_has_a_severity_both_languages_and_a_runbook() -> None:
    seen = set()
    for rule in alert_rules():
        name = rule["alert"]
        assert re.fullmatch(r"Supervisor[A-Z]\w+", name) and name not in seen, name
        seen.add(name)
        assert rule["labels"]["severity"] in SEVERITIES, name
        annotations = rule["annotations"]
        assert set(annotations) >= ANNOTATIONS, f"{name}: {sorted(ANNOTATIONS - set(annotations))}"
        for key in ("summary_zh", "description_zh"):
            assert _CJK.search(annotations[key]), f"{name}: {key} is not in Chinese"
        for key in ("summary", "description", "runbook"):  # English (a term in 汉字 may stay)
            text = annotations[key]
            assert len(re.findall("[A-Za-z]", text)) > 5 * len(_CJK.findall(text)), name
    # The alerts the operations brief asks for (issue 6) are all there.
    assert seen >= {
        "SupervisorWorkerDown",
        "SupervisorNoWorker",
        "SupervisorWebDown",
        "SupervisorWebKafkaDisconnected",
        "SupervisorConsumerLagHigh",
        "SupervisorDeadLetterRateHigh",
        "SupervisorCenterNoEvents",
        "SupervisorCalendarUnconfirmed",
        "SupervisorNotificationsDeadLettered",
        "SupervisorDeadlineLatenessHigh",
    }
    # The runbook table of docs/operations.md lists every alert.
    operations = doc_section(OPERATIONS_DOC, RUNBOOKS)
    missing = sorted(name for name in seen if f"`{name}`" not in operations)
    assert not missing, f"{OPERATIONS_DOC.name} {RUNBOOKS!r} does not list {missing}"


# -- docs/: every variable is documented -------------------------------------------------

#: The sections of docs/ that the checks read.
VARIABLES = "## Environment variables"
RUNBOOKS = "## Alerting rules and runbooks (运维告警)"


def doc_section(path: Path, heading: str) -> str:
    """The section `heading` (a whole line) of the Markdown file `path`, up to the next
    `## ` heading; for the page's `# ` title, the whole page."""
    text = "\n" + path.read_text(encoding="utf-8")
    assert f"\n{heading}\n" in text, f"{path.name} has no section {heading!r}"
    start = text.index(f"\n{heading}\n")
    if heading.startswith("# "):
        return text[start:]
    following = re.search(r"\n## ", text[start + len(heading) + 1 :])
    end = start + len(heading) + 1 + following.start() if following else len(text)
    return text[start:end]


@cache
def documented_variables() -> frozenset[str]:
    """The variables of the first column of the table of docs/configuration.md. A cell may
    name several (`A` / `B`) and abbreviate the later ones by their suffix
    (`…_BASE_SECONDS` / `_CAP_SECONDS`: the first one's prefix, then the suffix)."""
    names: set[str] = set()
    for line in doc_section(CONFIGURATION_DOC, VARIABLES).splitlines():
        if not line.startswith("| `"):
            continue
        cell = line.split("|")[1]
        tokens = re.findall(r"`([A-Z_][A-Z0-9_]*)`", cell)
        if not tokens or tokens[0].startswith("_"):
            continue
        first = tokens[0]
        names.add(first)
        for token in tokens[1:]:
            if not token.startswith("_"):
                names.add(token)
                continue
            cuts = [i for i, char in enumerate(first) if char == "_"]
            names.update(first[:cut] + token for cut in cuts)  # every possible prefix
    return frozenset(names)


def compose_variables() -> set[str]:
    """The variables the compose file uses: the environment of the services that run the
    project's image, and every ${VAR} it interpolates (other images' own settings, such as
    the broker's KAFKA_NODE_ID or Grafana's GF_*, are theirs, not ours)."""
    used = {var for name in ROLES for var in environment(name)}
    used |= set(re.findall(r"\$\{(\w+)", COMPOSE.read_text(encoding="utf-8")))
    return used


def test_the_configuration_page_documents_every_variable_of_compose_and_the_settings() -> None:
    documented = documented_variables()
    missing = sorted(compose_variables() - documented)
    assert not missing, f"{CONFIGURATION_DOC.name} {VARIABLES!r} does not document {missing}"
    missing = sorted(set(ENVIRONMENT) - documented)
    assert not missing, f"{CONFIGURATION_DOC.name} {VARIABLES!r} does not document {missing}"


def test_the_deployment_page_explains_the_deployment() -> None:
    deployment = doc_section(DEPLOYMENT_DOC, "# Deployment")
    for needed in (
        "docker compose up",
        "--scale worker=",
        "secrets/prometheus/web-token",
        "secrets/notify.env",
        "GRAFANA_ADMIN_PASSWORD",
    ):
        assert needed in deployment, f"{DEPLOYMENT_DOC.name} does not mention {needed!r}"
    for name in SERVICES | {"notify"}:
        assert f"`{name}`" in deployment, f"{DEPLOYMENT_DOC.name} does not present {name}"


@cache
def datasource() -> dict[str, Any]:
    config = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))
    (source,) = config["datasources"]
    assert isinstance(source, dict)
    return source


def test_grafana_is_provisioned_from_the_repository() -> None:
    mounts = volume_mounts("grafana")
    assert mounts.get("/etc/grafana/provisioning") == "./dashboards/grafana/provisioning"
    source = datasource()
    assert source["type"] == "prometheus"
    host_port = source["url"].split("://", 1)[1].rstrip("/")
    assert host_port == "prometheus:9090" and 9090 in container_ports("prometheus")
    providers = yaml.safe_load(PROVIDERS.read_text(encoding="utf-8"))["providers"]
    paths = {provider["options"]["path"] for provider in providers}
    assert paths == {
        target for target, src in mounts.items() if src == "./dashboards/grafana/dashboards"
    }


@cache
def dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def panels() -> Iterator[dict[str, Any]]:
    for panel in dashboard()["panels"]:
        yield panel
        yield from panel.get("panels", [])  # those of a collapsed row


def queries() -> Iterator[tuple[str, dict[str, Any]]]:
    for panel in panels():
        for target in panel.get("targets", []):
            yield panel["title"], target


_LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*(\w+)\s*\)\s*$", re.S)


def variable_queries() -> Iterator[tuple[str, str, str | None]]:
    """(variable name, PromQL, label) of each query variable: `label_values(EXPR, LABEL)`
    gives EXPR and LABEL, `query_result(EXPR)` EXPR."""
    for variable in dashboard().get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query)
        found = _LABEL_VALUES.match(text)
        if found:
            yield variable["name"], found[1], found[2]
        else:
            inner = re.match(r"^\s*query_result\((.*)\)\s*$", text, re.S)
            assert inner, f"variable {variable['name']}: an unsupported query {text!r}"
            yield variable["name"], inner[1], None


def dashboard_expressions() -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every query of the dashboard: panels and variables."""
    for title, target in queries():
        yield title, target["expr"]
    for name, expr, _ in variable_queries():
        yield f"${name}", expr


def test_the_dashboard_is_a_grafana_dashboard() -> None:
    board = dashboard()
    assert board["title"] == "政务服务电子监察 — 运行监控"
    assert board["schemaVersion"] >= 36
    ids = [panel["id"] for panel in panels()]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels():
        if panel["type"] == "row":
            continue
        assert panel.get("targets"), f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == datasource()["uid"], panel["title"]
            assert target["expr"].strip(), panel["title"]


def test_the_dashboard_queries_only_metrics_the_code_defines() -> None:
    names, labels = defined_metrics()
    used: set[str] = set()
    for title, expr in dashboard_expressions():
        series = promql_series(expr)
        assert series, f"{title!r}: no metric in {expr!r}"
        unknown = series - names - PROMETHEUS_SERIES
        assert not unknown, f"{title!r}: {sorted(unknown)} is not a metric of the code"
        if "histogram_quantile" in expr:
            assert all(name.endswith("_bucket") for name in series), f"{title!r}: {expr}"
        unknown_labels = promql_labels(expr) - labels - PROMETHEUS_LABELS
        assert not unknown_labels, f"{title!r}: no metric has the labels {sorted(unknown_labels)}"
        check_job_matchers(repr(title), expr)
        used |= series
    for title, target in queries():
        legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
        assert legend <= labels | PROMETHEUS_LABELS, f"{title!r}: legend {target['legendFormat']}"
    for name, _, label in variable_queries():
        assert label is None or label in labels, f"${name}: no metric has the label {label}"
    # The whole catalogue is on it (each family by one of its series).
    for family in DASHBOARD_FAMILIES:
        assert family in used, f"the dashboard does not show {family}"


#: The metric families the dashboard must show (issue 6: "panels for the whole catalogue").
DASHBOARD_FAMILIES = (
    "supervisor_worker_events_consumed_total",
    "supervisor_worker_events_rejected_total",
    "supervisor_worker_events_duplicate_total",
    "supervisor_worker_alerts_raised_total",
    "supervisor_worker_alerts_resolved_total",
    "supervisor_worker_alert_latency_seconds_bucket",
    "supervisor_worker_ingest_to_alert_seconds_bucket",
    "supervisor_worker_deadline_lateness_seconds_bucket",
    "supervisor_worker_processing_seconds_bucket",
    "supervisor_worker_consumer_lag",
    "supervisor_worker_partitions_assigned",
    "supervisor_worker_open_timers",
    "supervisor_worker_center_last_event_timestamp_seconds",
    "supervisor_worker_centers_watched",
    "supervisor_worker_facts_total",
    "supervisor_worker_events_misrouted_total",
    "supervisor_worker_alerts_unacknowledged",
    "supervisor_worker_alerts_sent_again_total",
    "supervisor_worker_events_read_back_total",
    "supervisor_worker_ticks_stale_total",
    "supervisor_calendar_unconfirmed_year",
    "supervisor_rule_reloads_total",
    "supervisor_rules_loaded",
    "supervisor_rules_last_reload_timestamp_seconds",
    "supervisor_web_websocket_clients",
    "supervisor_web_websocket_slow_disconnects_total",
    "supervisor_web_websocket_messages_dropped_total",
    "supervisor_web_open_alerts",
    "supervisor_web_open_cases",
    "supervisor_web_alerts_received_total",
    "supervisor_web_alert_resolutions_total",
    "supervisor_web_alerts_malformed_total",
    "supervisor_web_dlq_messages_total",
    "supervisor_web_alert_push_delay_seconds_bucket",
    "supervisor_web_lifecycle_changes_total",
    "supervisor_web_projected_records_total",
    "supervisor_web_database_up",
    "supervisor_web_kafka_connected",
    "supervisor_notify_notifications_sent_total",
    "supervisor_notify_notifications_retried_total",
    "supervisor_notify_notifications_failed_total",
    "supervisor_notify_dead_letters_total",
    "supervisor_notify_outbox_size",
    "supervisor_notify_escalations_total",
    "supervisor_notify_suppressed_total",
    "supervisor_notify_journal_position",
    "supervisor_notify_replays_total",
    "ALERTS",
)


# -- Dockerfile ------------------------------------------------------------------------


def test_the_image_runs_the_console_script() -> None:
    assert dockerfile()[0][0] == "FROM" and dockerfile()[0][1].startswith("python:3.11-slim")
    entrypoint = exec_form("ENTRYPOINT")
    cmd = exec_form("CMD")
    assert cmd is not None
    # Compose's `command:` replaces CMD only; with an ENTRYPOINT, `supervisor worker` would
    # run as `<entrypoint> supervisor worker`.
    assert entrypoint is None, "no ENTRYPOINT: compose commands are whole command lines"
    assert cmd[0] in scripts()
    parse_cli(cmd[1:])
    users = [arguments for keyword, arguments in dockerfile() if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image must not run as root"


def test_the_image_can_make_the_reports_pdf() -> None:
    """WeasyPrint needs Pango, and the report a Chinese font (supervisor/report refuses to
    make a PDF without one): the slim base image has neither."""
    runs = [arguments for keyword, arguments in dockerfile() if keyword == "RUN"]
    installed = " ".join(run for run in runs if "apt-get" in run).split()
    for package in ("libpango-1.0-0", "libpangoft2-1.0-0", "fontconfig", "fonts-noto-cjk"):
        assert package in installed, package


def test_the_image_environment_is_settings_variables() -> None:
    env = image_env()
    ours = {var for var in env if var.startswith(("SUPERVISOR_", "KAFKA_"))}
    assert ours <= set(ENVIRONMENT), sorted(ours - set(ENVIRONMENT))
    Settings.from_env(env)


def test_the_image_layout_matches_the_checkout() -> None:
    """The package, rules/ and dashboards/ sit in the image as they do in the repository."""
    copies = image_copies()
    assert "pyproject.toml" in copies
    package = copies["supervisor"]
    image_root = package.parent
    # The web service finds the wall relative to its package: mirror that in the image.
    wall = image_root / WALL_DIR.relative_to(PROJECT_ROOT).as_posix()
    top = WALL_DIR.relative_to(PROJECT_ROOT).parts[0]
    assert copies.get(top) == image_root / top, f"{top}/ must be copied next to the package"
    assert (ROOT / WALL_DIR.relative_to(PROJECT_ROOT)).is_dir(), wall
    # ... which holds only when the package runs from there: an editable install in it.
    installs = [
        arguments for keyword, arguments in dockerfile() if keyword == "RUN" and "-e ." in arguments
    ]
    assert installs and "pip install" in installs[0], "install the tree with pip install -e ."
    workdirs = [arguments for keyword, arguments in dockerfile() if keyword == "WORKDIR"]
    assert PurePosixPath(workdirs[-1]) == image_root
    # Every supervisor service's rules directory is the image's copy of rules/.
    for name in ROLES:
        assert PurePosixPath(settings_of(name).rules_dir.as_posix()) == copies["rules"], name
    data_dir = str(settings_of("worker").data_dir)
    assert any(
        keyword == "RUN" and "chown" in arguments and data_dir in arguments
        for keyword, arguments in dockerfile()
    ), f"the image's user must own {data_dir}"


def test_dockerignore_keeps_what_the_image_needs() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith(("#", "!"))
    ]
    needed = [*image_copies(), "supervisor/data/hechi_centers.yaml", "rules/canonical.yaml"]
    needed.append(WALL_DIR.relative_to(PROJECT_ROOT).as_posix() + "/index.html")
    for path in needed:
        parts = PurePosixPath(path).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        for pattern in patterns:
            pattern = pattern.strip("/")
            assert not any(fnmatch(prefix, pattern) for prefix in prefixes), (
                f".dockerignore pattern {pattern!r} excludes {path}"
            )
        assert (ROOT / path).exists(), path
