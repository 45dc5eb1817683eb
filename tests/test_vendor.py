"""The pages' library from npm, Apache ECharts, as it ships: pinned at one version in
dashboards/package.json and package-lock.json, vendored in dashboards/vendor/echarts/
byte for byte as that version's npm package has it (checked against the
dashboards/node_modules that scripts/bootstrap installs with `npm ci`), served by the web
service at /vendor/ under the pages' Content-Security-Policy, and no page naming any
other origin (no CDN, no font or script from elsewhere)."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from supervisor.auth import TokenStore
from supervisor.settings import Settings
from supervisor.web.app import create_app
from supervisor.web.routes.pages import VENDOR_DIR

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = ROOT / "dashboards"
VENDORED = DASHBOARDS / "vendor" / "echarts"
INSTALLED = DASHBOARDS / "node_modules" / "echarts"
#: The vendored files and where the npm package has each.
FILES = {
    "echarts.min.js": "dist/echarts.min.js",
    "LICENSE": "LICENSE",
    "NOTICE": "NOTICE",
    "LICENSE-d3": "licenses/LICENSE-d3",
}
#: The pages' own files, which must name no other origin (the vendored library is
#: checked by the browser test: no request leaves the origin).
PAGES = ("wall", "console", "common")
ELSEWHERE = re.compile(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}|\burl\(\s*['\"]?(?:https?:)?//")


def pinned() -> str:
    package: dict[str, Any] = json.loads((DASHBOARDS / "package.json").read_text("utf-8"))
    assert package["type"] == "module"  # node --test imports the pages' modules
    version = str(package["dependencies"]["echarts"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"echarts is not pinned exactly: {version}"
    return version


def test_echarts_is_pinned_and_locked_at_one_version() -> None:
    version = pinned()
    lock: dict[str, Any] = json.loads((DASHBOARDS / "package-lock.json").read_text("utf-8"))
    assert lock["packages"][""]["dependencies"]["echarts"] == version
    assert lock["packages"]["node_modules/echarts"]["version"] == version
    assert lock["packages"]["node_modules/echarts"]["integrity"].startswith("sha512-")
    note = (VENDORED / "README.md").read_text("utf-8").splitlines()[0]
    assert note == f"# Apache ECharts {version}, vendored"


def test_the_vendored_copy_is_the_pinned_packages_own() -> None:
    version = pinned()
    for name in FILES:
        assert (VENDORED / name).is_file(), name
    assert INSTALLED.is_dir(), "dashboards/node_modules is missing: run scripts/bootstrap (npm ci)"
    installed = json.loads((INSTALLED / "package.json").read_text("utf-8"))["version"]
    assert installed == version, (
        f"node_modules has echarts {installed}, package.json pins {version}: run scripts/bootstrap"
    )
    for name, source in FILES.items():
        assert (VENDORED / name).read_bytes() == (INSTALLED / source).read_bytes(), (
            f"dashboards/vendor/echarts/{name} is not echarts {version}'s {source}"
        )


def test_no_page_names_another_origin() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for page in PAGES
        for path in sorted((DASHBOARDS / page).rglob("*"))
        if path.suffix in {".html", ".js", ".css", ".mjs"}
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if ELSEWHERE.search(line)
    ]
    assert not found, "\n".join(found)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(
        Settings.from_env({}),
        registry=CollectorRegistry(),
        start_consumer=False,
        tokens=TokenStore(tmp_path / "tokens.json"),
    )
    with TestClient(app) as test_client:
        yield test_client


def test_the_service_serves_it_from_its_own_origin(client: TestClient) -> None:
    """No token needed (a page's script), the same bytes, JavaScript, and a policy that
    runs scripts of the service's own origin only."""
    assert VENDORED.parent == VENDOR_DIR
    served = client.get("/vendor/echarts/echarts.min.js")
    assert served.status_code == 200
    assert served.content == (VENDORED / "echarts.min.js").read_bytes()
    assert "javascript" in served.headers["content-type"]
    assert served.headers["x-content-type-options"] == "nosniff"
    console = client.get("/console/")
    policy = dict(
        part.strip().split(" ", 1) for part in console.headers["content-security-policy"].split(";")
    )
    assert policy["script-src"] == "'self'" and policy["default-src"] == "'self'"
    assert client.get("/vendor/").status_code == 404  # no listing
    assert client.get("/vendor/../pyproject.toml").status_code == 404
