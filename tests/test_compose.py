"""The deployment files agree with the code, checked without Docker.

docker-compose.yml, the Dockerfile, dashboards/prometheus.yml and the Grafana
provisioning are parsed and compared with what the code defines: the environment
variables of `supervisor.settings.ENVIRONMENT`, the ports and topics of `Settings`, the
`supervisor` console script and its commands, and the metric names registered by the
worker's and the web service's metrics classes (so renaming a metric, a label or a port
fails here, not silently on a dashboard).
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from collections.abc import Callable, Iterator, Mapping
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
from supervisor.web.app import WALL_DIR
from supervisor.web.metrics import WebMetrics
from supervisor.worker.metrics import WorkerMetrics

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PROMETHEUS = ROOT / "dashboards" / "prometheus.yml"
GRAFANA = ROOT / "dashboards" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "supervisor.json"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "supervisor.yml"

#: The services that run the project's image, and the `supervisor` command each runs.
ROLES = {"worker": "worker", "web": "web", "simulator": "simulate"}
SERVICES = {*ROLES, "kafka", "prometheus", "grafana"}
#: Series that Prometheus itself adds to every scrape, and the labels it attaches.
PROMETHEUS_SERIES = {"up"}
PROMETHEUS_LABELS = {"job", "instance"}


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


def _web_metrics(registry: CollectorRegistry) -> object:
    create: Callable[[CollectorRegistry], object] = getattr(WebMetrics, "create", WebMetrics)
    return create(registry)


@cache
def defined_metrics() -> tuple[frozenset[str], frozenset[str]]:
    """(sample names, label names) exposed by the worker's and the web's metrics.

    Each set is built on a fresh registry; every labelled metric gets one probe child so
    that its samples (`_total`, `_bucket`...) appear in `registry.collect()`.
    """
    names: set[str] = set()
    labels: set[str] = set()
    builders: list[Callable[[CollectorRegistry], object]] = [WorkerMetrics.create, _web_metrics]
    for build in builders:
        registry = CollectorRegistry()
        holder = build(registry)
        for value in vars(holder).values():
            if isinstance(value, MetricWrapperBase) and value._labelnames:
                value.labels(*["probe"] * len(value._labelnames))
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
    labels = set()
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
        "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
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


def test_the_worker_keeps_its_state_on_a_named_volume() -> None:
    settings = settings_of("worker")
    assert healthcheck_url("worker") == (settings.worker_web_port, "/healthz")
    source = volume_mounts("worker").get(str(settings.data_dir))
    assert source, f"SUPERVISOR_DATA_DIR={settings.data_dir} is not a volume of the worker"
    assert source in (compose().get("volumes") or {}), f"{source} is not a named volume"


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
def prometheus_jobs() -> dict[str, dict[str, Any]]:
    config = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))
    return {job["job_name"]: job for job in config["scrape_configs"]}


def test_prometheus_scrapes_the_worker_and_the_web_service() -> None:
    expected = {
        "supervisor-web": f"web:{settings_of('web').web_port}",
        "supervisor-worker": f"worker:{settings_of('worker').worker_web_port}",
    }
    jobs = prometheus_jobs()
    for job, target in expected.items():
        assert job in jobs, f"no scrape job {job}"
        config = jobs[job]
        targets = [t for group in config["static_configs"] for t in group["targets"]]
        assert targets == [target]
        assert config.get("metrics_path", "/metrics") == "/metrics"
        assert config.get("scrape_interval", "15s") == "15s"
        assert target.split(":")[0] in compose()["services"]
    assert volume_mounts("prometheus").get("/etc/prometheus/prometheus.yml") == (
        "./dashboards/prometheus.yml"
    )


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
    jobs = set(prometheus_jobs())
    used: set[str] = set()
    for title, target in queries():
        expr = target["expr"]
        series = promql_series(expr)
        assert series, f"{title!r}: no metric in {expr!r}"
        unknown = series - names - PROMETHEUS_SERIES
        assert not unknown, f"{title!r}: {sorted(unknown)} is not a metric of the code"
        if "histogram_quantile" in expr:
            assert all(name.endswith("_bucket") for name in series), f"{title!r}: {expr}"
        unknown_labels = promql_labels(expr) - labels - PROMETHEUS_LABELS
        assert not unknown_labels, f"{title!r}: no metric has the labels {sorted(unknown_labels)}"
        legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
        assert legend <= labels | PROMETHEUS_LABELS, f"{title!r}: legend {target['legendFormat']}"
        for name, operator, value in promql_matchers(expr):
            if name == "job":
                matching = (
                    {j for j in jobs if re.fullmatch(value, j)}
                    if "~" in operator
                    else ({value} & jobs)
                )
                assert matching, f"{title!r}: job matcher {value!r} matches no scrape job"
        used |= series
    # The families the brief of the dashboard names are all on it.
    for family in (
        "supervisor_worker_events_consumed_total",
        "supervisor_worker_events_rejected_total",
        "supervisor_worker_events_duplicate_total",
        "supervisor_worker_alerts_raised_total",
        "supervisor_worker_alert_latency_seconds_bucket",
        "supervisor_worker_processing_seconds_bucket",
        "supervisor_worker_open_timers",
        "supervisor_calendar_unconfirmed_year",
        "supervisor_web_websocket_clients",
    ):
        assert family in used, f"the dashboard does not show {family}"


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
