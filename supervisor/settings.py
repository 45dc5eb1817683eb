"""The one place that reads the environment.

Every process (worker, web, simulator, demo, tests) builds one frozen `Settings` with
`Settings.from_env()` and passes it down; nothing else in the package looks at
`os.environ`. That keeps docker-compose, docs/configuration.md and the code in agreement: the table
of variables below is the whole interface, and `tests/test_compose.py` checks the
compose file against it.
"""

from __future__ import annotations

import atexit
import os
import re
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, fields, replace
from importlib.resources import as_file, files
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: The directory above the package. Running from the sources (a checkout's editable
#: install, the Docker image) it is the repository's root; in an installed wheel it is
#: site-packages, and nothing is read from there.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: The directories at the top of the repository that ship inside the package, by their
#: name in it (pyproject.toml's `[tool.setuptools.package-dir]`; tests/test_package.py
#: checks the two agree). They stay at the top because that is where people edit them.
SHIPPED_FROM_TOP: Final = {
    "_wall": "dashboards/wall",
    "_console": "dashboards/console",
    "_common": "dashboards/common",
    "_vendor": "dashboards/vendor",
    "_rules": "rules",
}


def _checkout() -> Path | None:
    """The repository the package runs from, or None when it was installed from a wheel.

    A wheel holds the rules inside the package (`supervisor/_rules`). Running from the
    sources it does not: setuptools' editable install cannot map a directory without an
    `__init__.py` to a package (pypa/setuptools#4943), so the sources are read in place,
    at the top of the checkout, which are the very files the wheel would ship."""
    if (files("supervisor") / "_rules").is_dir():
        return None
    return PROJECT_ROOT if (PROJECT_ROOT / "pyproject.toml").is_file() else None


#: See `_checkout`: where the sources are when the package runs from them, else None.
CHECKOUT: Final = _checkout()

#: Keeps the files `as_file` had to extract (a package that is not on a file system)
#: for the life of the process; for an installed wheel or a checkout it holds nothing.
_EXTRACTED = ExitStack()
atexit.register(_EXTRACTED.close)


def package_path(*parts: str) -> Path:
    """A file or directory the package ships, as a path on disk, read through
    `importlib.resources` so that it is found wherever the package is installed:
    `package_path("data", "hechi_centers.yaml")`, `package_path("_rules")` (the default
    rules), `package_path("_wall")` (the wall's page).

    Why a path and not a resource: the web service serves the wall from a directory, the
    worker watches the rules directory for changes and the demo links its files. A
    directory of `SHIPPED_FROM_TOP`, run from a checkout, is the checkout's own (see
    `_checkout`), so an edit of rules/ or dashboards/wall/ there is live at once."""
    resource = files("supervisor")
    for part in parts:
        resource = resource / part
    if (
        CHECKOUT is not None
        and parts
        and parts[0] in SHIPPED_FROM_TOP
        and not (resource.is_dir() or resource.is_file())
    ):
        return CHECKOUT.joinpath(SHIPPED_FROM_TOP[parts[0]], *parts[1:])
    return _EXTRACTED.enter_context(as_file(resource))


#: The rules the package ships (the repository's rules/): SUPERVISOR_RULES_DIR's default.
DEFAULT_RULES_DIR: Final = package_path("_rules")
#: Where a process keeps what it writes (RocksDB tables, tokens, the demo's logs) unless
#: SUPERVISOR_DATA_DIR says otherwise: a checkout's git-ignored data/, as always; for an
#: installed wheel the user's data directory, since site-packages is no place for it.
DEFAULT_DATA_DIR: Final = (
    CHECKOUT / "data" if CHECKOUT is not None else Path.home() / ".local" / "share" / "supervisor"
)

#: Environment variable -> (field name, default as text). Documented in docs/configuration.md.
ENVIRONMENT: dict[str, tuple[str, str]] = {
    "KAFKA_BOOTSTRAP_SERVERS": ("kafka_bootstrap_servers", ""),
    "SUPERVISOR_KAFKA_PORT": ("kafka_port", "19092"),
    "SUPERVISOR_KAFKA_HOME": ("kafka_home", str(Path.home() / ".cache" / "supervisor" / "kafka")),
    "SUPERVISOR_KAFKA_VERSION": ("kafka_version", "4.0.2"),
    "SUPERVISOR_TOPIC_EVENTS": ("topic_events", "case-events"),
    "SUPERVISOR_TOPIC_DLQ": ("topic_dlq", "case-events.dlq"),
    "SUPERVISOR_TOPIC_ALERTS": ("topic_alerts", "alerts"),
    "SUPERVISOR_TOPIC_FACTS": ("topic_facts", "case-facts"),
    "SUPERVISOR_PARTITIONS": ("partitions", "6"),
    # Replicas of every topic the project creates, Faust's internal ones included (3 on a
    # production cluster of 3 brokers or more; 1 for the local single-node broker).
    "SUPERVISOR_REPLICATION_FACTOR": ("replication_factor", "1"),
    # Retention of the topics the project creates, in days; 0 keeps records forever.
    "SUPERVISOR_JOURNAL_RETENTION_DAYS": ("journal_retention_days", "0"),
    "SUPERVISOR_FACTS_RETENTION_DAYS": ("facts_retention_days", "400"),
    "SUPERVISOR_DLQ_RETENTION_DAYS": ("dlq_retention_days", "30"),
    "SUPERVISOR_APP_ID": ("app_id", "supervisor"),
    "SUPERVISOR_STORE": ("store", "rocksdb://"),
    "SUPERVISOR_DATA_DIR": ("data_dir", str(DEFAULT_DATA_DIR)),
    "SUPERVISOR_RULES_DIR": ("rules_dir", str(DEFAULT_RULES_DIR)),
    "SUPERVISOR_RULES_RELOAD_SECONDS": ("rules_reload_seconds", "2.0"),
    "SUPERVISOR_TIMEZONE": ("timezone", "Asia/Shanghai"),
    "SUPERVISOR_TICK_SECONDS": ("tick_seconds", "0.25"),
    "SUPERVISOR_SETTLE_SECONDS": ("settle_seconds", "5.0"),
    # The worker writes case states per partition in batches (worker/case_agent.py): after
    # this many events of the partition, or once its batch is this old; a batch's write
    # waits at most this long for its alerts to be acknowledged.
    "SUPERVISOR_BATCH_EVENTS": ("batch_events", "2000"),
    "SUPERVISOR_BATCH_SECONDS": ("batch_seconds", "2.0"),
    "SUPERVISOR_BATCH_ACK_WAIT_SECONDS": ("batch_ack_wait_seconds", "1.0"),
    # A partition with more unread events than this is catching up a backlog: its
    # batches hold up to this many events, or this many seconds (0: no such batches).
    "SUPERVISOR_CATCH_UP_BATCH_EVENTS": ("catch_up_batch_events", "10000"),
    "SUPERVISOR_CATCH_UP_BATCH_SECONDS": ("catch_up_batch_seconds", "10.0"),
    # How long the worker's producer gathers records before it sends a request.
    "SUPERVISOR_PRODUCER_LINGER_SECONDS": ("producer_linger_seconds", "0.005"),
    # An event whose occurred_at is further ahead of the worker's clock is refused (DLQ).
    "SUPERVISOR_FUTURE_TOLERANCE_SECONDS": ("future_tolerance_seconds", "300"),
    # An events partition with unread events and no progress this long, the worker idle,
    # is a consumer stall: the worker fetches it again (worker/watchdog.py); 0: never.
    "SUPERVISOR_STALL_SECONDS": ("stall_seconds", "15"),
    "SUPERVISOR_WORKER_WEB_PORT": ("worker_web_port", "6066"),
    "SUPERVISOR_WEB_HOST": ("web_host", "127.0.0.1"),
    "SUPERVISOR_WEB_PORT": ("web_port", "8000"),
    "SUPERVISOR_WALL_RECENT": ("wall_recent", "200"),
    # Empty: <SUPERVISOR_DATA_DIR>/tokens.json (see DERIVED_DEFAULTS). Never in the repo.
    "SUPERVISOR_TOKENS_FILE": ("tokens_file", ""),
    # Comma-separated origins (scheme://host[:port]) whose pages may open the WebSocket,
    # besides the service's own; empty: only its own.
    "SUPERVISOR_WEB_ORIGINS": ("web_origins", ""),
    # Addresses of the reverse proxies whose X-Forwarded-Proto and X-Forwarded-For the web
    # service believes (comma-separated IPs or networks, "*" for any): behind a TLS proxy,
    # the console's session cookie is Secure only when the proxy's word is taken.
    "SUPERVISOR_WEB_TRUSTED_PROXIES": ("web_trusted_proxies", "127.0.0.1"),
    # Signs the console's session cookies (web/sessions.py); empty: a random key made once
    # in <SUPERVISOR_DATA_DIR>/session.key. Web services behind one address share it.
    "SUPERVISOR_SESSION_SECRET": ("session_secret", ""),
    # Serve the API's documentation (/docs, /redoc, /openapi.json) to any valid token;
    # false (the default, for production): not served at all.
    "SUPERVISOR_API_DOCS": ("api_docs", "false"),
    "SUPERVISOR_LOG_LEVEL": ("log_level", "INFO"),
    # The read model (supervisor/store/): empty: SQLite in <SUPERVISOR_DATA_DIR>/supervisor.db;
    # production: postgresql://user:password@host:5432/supervisor.
    "SUPERVISOR_DATABASE_URL": ("database_url", ""),
    # Rows of the read model kept, in days (alerts by raised_at, facts and events by
    # occurred_at, closed cases by their closing); 0 keeps them forever.
    "SUPERVISOR_DB_RETENTION_DAYS": ("db_retention_days", "0"),
    # The notifier (`supervisor notify`, supervisor/notify/service.py).
    "SUPERVISOR_NOTIFY_PORT": ("notify_port", "6067"),
    "SUPERVISOR_NOTIFY_ROUTING": (
        "notify_routing",
        str(DEFAULT_RULES_DIR / "notify" / "routing.yaml"),
    ),
    # Where a notifier with no saved state starts reading the journal: end | beginning.
    "SUPERVISOR_NOTIFY_START": ("notify_start", "end"),
    # Empty: <SUPERVISOR_APP_ID>-notifications.dlq (see supervisor/notify/service.py).
    "SUPERVISOR_NOTIFY_TOPIC_DLQ": ("notify_topic_dlq", ""),
    "SUPERVISOR_NOTIFY_TICK_SECONDS": ("notify_tick_seconds", "1.0"),
    "SUPERVISOR_NOTIFY_TIMEOUT_SECONDS": ("notify_timeout_seconds", "10.0"),
    "SUPERVISOR_NOTIFY_CONCURRENCY": ("notify_concurrency", "8"),
    "SUPERVISOR_NOTIFY_RETRY_BASE_SECONDS": ("notify_retry_base_seconds", "5.0"),
    "SUPERVISOR_NOTIFY_RETRY_CAP_SECONDS": ("notify_retry_cap_seconds", "1800.0"),
    "SUPERVISOR_NOTIFY_RETRY_MAX_ATTEMPTS": ("notify_retry_max_attempts", "16"),
    "SUPERVISOR_NOTIFY_RETRY_BUDGET_SECONDS": ("notify_retry_budget_seconds", "43200.0"),
    # The wall's address, linked from every message; empty: no link.
    "SUPERVISOR_NOTIFY_WALL_URL": ("notify_wall_url", ""),
    "SUPERVISOR_SMTP_HOST": ("smtp_host", "localhost"),
    "SUPERVISOR_SMTP_PORT": ("smtp_port", "25"),
    "SUPERVISOR_SMTP_SENDER": ("smtp_sender", "政务服务电子监察 <supervisor@localhost>"),
    # none | starttls | tls (TLS from the start, port 465)
    "SUPERVISOR_SMTP_SECURITY": ("smtp_security", "none"),
    "SUPERVISOR_SMTP_USERNAME": ("smtp_username", ""),  # empty: no login
    "SUPERVISOR_SMTP_PASSWORD": ("smtp_password", ""),
}

#: Defaults that depend on another setting: field -> (field it derives from, file name).
DERIVED_DEFAULTS: dict[str, tuple[str, str]] = {"tokens_file": ("data_dir", "tokens.json")}

_ORIGIN = re.compile(r"^https?://[^/\s?#]+$")


@dataclass(frozen=True)
class Settings:
    """Frozen configuration of one process; `replace()` makes variants for tests."""

    kafka_bootstrap_servers: str
    kafka_port: int
    kafka_home: Path
    kafka_version: str
    topic_events: str
    topic_dlq: str
    topic_alerts: str
    topic_facts: str  # one compact fact per applied event, for statistics (worker/facts.py)
    partitions: int
    app_id: str
    store: str
    data_dir: Path
    rules_dir: Path
    rules_reload_seconds: float  # how often the worker looks for changed rules; 0: never
    timezone: str
    tick_seconds: float
    settle_seconds: float
    worker_web_port: int
    web_host: str
    web_port: int
    wall_recent: int
    log_level: str
    tokens_file: Path  # access tokens (hashes only), written by `supervisor token`
    web_origins: tuple[str, ...]  # origins allowed on the WebSocket besides the own one
    notify_port: int = 6067  # the notifier's /metrics and /healthz
    notify_routing: Path = DEFAULT_RULES_DIR / "notify" / "routing.yaml"
    notify_start: str = "end"  # end | beginning: a notifier without saved state
    notify_topic_dlq: str = ""  # empty: <app_id>-notifications.dlq
    notify_tick_seconds: float = 1.0
    notify_timeout_seconds: float = 10.0  # one delivery attempt
    notify_concurrency: int = 8  # attempts in flight at once
    notify_retry_base_seconds: float = 5.0
    notify_retry_cap_seconds: float = 1800.0
    notify_retry_max_attempts: int = 16
    notify_retry_budget_seconds: float = 43200.0
    notify_wall_url: str = ""
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_sender: str = "政务服务电子监察 <supervisor@localhost>"
    smtp_security: str = "none"  # none | starttls | tls
    smtp_username: str = ""
    smtp_password: str = ""
    future_tolerance_seconds: float = 300.0  # events further ahead of the worker's clock: DLQ
    stall_seconds: float = 15.0  # no progress with unread events: a stall (0: not watched)
    batch_events: int = 2000
    batch_seconds: float = 2.0
    batch_ack_wait_seconds: float = 1.0
    catch_up_batch_events: int = 10000
    catch_up_batch_seconds: float = 10.0
    producer_linger_seconds: float = 0.005
    replication_factor: int = 1
    journal_retention_days: float = 0.0  # 0: forever (the alert journal is the audit trail)
    facts_retention_days: float = 400.0
    dlq_retention_days: float = 30.0
    api_docs: bool = False  # /docs, /redoc, /openapi.json served (to a valid token only)
    database_url: str = ""  # the read model; empty: SQLite in data_dir (see `database`)
    db_retention_days: float = 0.0  # rows of the read model kept; 0: forever
    session_secret: str = ""  # signs session cookies; empty: <data_dir>/session.key
    web_trusted_proxies: str = "127.0.0.1"  # whose X-Forwarded-* headers are believed

    @property
    def database(self) -> str:
        """The read model's URL as set, or the embedded default: a SQLite file in the
        data directory (`supervisor.store.db` picks the async driver)."""
        return self.database_url or f"sqlite:///{self.data_dir / 'supervisor.db'}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        types = {f.name: f.type for f in fields(cls)}
        values: dict[str, object] = {}
        for var, (name, default) in ENVIRONMENT.items():
            raw = env.get(var, "") or default
            kind = types[name]
            if not raw and name in DERIVED_DEFAULTS:
                continue
            try:
                if kind == "int":
                    values[name] = int(raw)
                elif kind == "float":
                    values[name] = float(raw)
                elif kind == "Path":
                    values[name] = Path(raw).expanduser()
                elif kind == "tuple[str, ...]":
                    values[name] = _origins(var, raw)
                elif kind == "bool":
                    values[name] = _flag(raw)
                else:
                    values[name] = raw
            except SettingError:
                raise
            except ValueError as exc:
                raise SettingError(f"{var}={raw!r} is not a valid {kind}") from exc
        _check_timezone(str(values["timezone"]))
        for name, (source, file_name) in DERIVED_DEFAULTS.items():
            if name not in values:
                source_value = values[source]
                assert isinstance(source_value, Path)
                values[name] = source_value / file_name
        return cls(**values)  # type: ignore[arg-type]

    @property
    def uses_local_kafka(self) -> bool:
        """True when no external cluster is configured, so the project's own broker runs."""
        return not self.kafka_bootstrap_servers

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.kafka_port}"

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def secret_from_env(name: str, environ: Mapping[str, str] | None = None) -> bytes | None:
    """The value of the environment variable `name` (a webhook secret named by the
    routing file's `secret_env`), None when unset or empty. Read here, at the moment of
    use, so settings.py stays the one place that reads the environment."""
    env = os.environ if environ is None else environ
    value = env.get(name, "")
    return value.encode("utf-8") if value else None


#: The spellings of a yes/no setting (case does not matter).
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _flag(raw: str) -> bool:
    """A yes/no setting: `true`/`false` (or 1/0, yes/no, on/off); anything else is an
    error, so a typo does not silently leave a feature off (or on)."""
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{raw!r} is neither true nor false")


class SettingError(ValueError):
    """An environment variable the settings cannot use; the message names it and says
    why (the command line prints it as one line, not a traceback)."""


def _check_timezone(name: str) -> None:
    """SUPERVISOR_TIMEZONE names a zone of the IANA database: refused at start, not at the
    first deadline computed in it."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingError(
            f"SUPERVISOR_TIMEZONE={name!r} is not a time zone (e.g. Asia/Shanghai)"
        ) from None


def _origins(var: str, raw: str) -> tuple[str, ...]:
    """`SUPERVISOR_WEB_ORIGINS`: "https://a.example, http://b:8080/" -> normalised origins."""
    origins = []
    for part in raw.split(","):
        origin = part.strip().rstrip("/").lower()
        if not origin:
            continue
        if not _ORIGIN.match(origin):
            raise SettingError(f"{var}: {part.strip()!r} is not an origin (scheme://host[:port])")
        origins.append(origin)
    return tuple(origins)
