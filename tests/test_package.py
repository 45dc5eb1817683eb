"""The package as it ships: what pyproject.toml puts in the wheel, what it declares, and
the wheel itself installed outside the checkout (scripts/package-check).

Why: in a checkout everything is found through the sources, so the rest of the suite
cannot notice a wall page, a rules file or a dependency that the wheel lacks. The fast
tests below keep pyproject.toml in step with the tree; the integration test builds the
wheel, installs it into a clean venv and runs replay and the demo from a temporary
directory, as whoever installs the service would.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import pytest

import supervisor
from supervisor.centers import DEFAULT_PATH as CENTERS_FILE
from supervisor.settings import CHECKOUT, SHIPPED_FROM_TOP, Settings, package_path
from supervisor.simulate.catalogue import DEFAULT_DIR as CATALOGUE_DIR
from supervisor.simulate.templates import TEMPLATES_PATH
from supervisor.web.routes.pages import WALL_DIR

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS: dict[str, Any] = PYPROJECT["tool"]["setuptools"]


def normalized(name: str) -> str:
    """A distribution's name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return normalized(re.split(r"[\[=<>!~;\s]", requirement, maxsplit=1)[0])


def test_the_wheel_lists_every_package_directory() -> None:
    """The package list is written out (two packages come from outside supervisor/), so a
    new directory of code or data must be added to it: the wheel would lack it."""
    expected = {
        ".".join(path.relative_to(ROOT).parts)
        for path in [ROOT / "supervisor", *(ROOT / "supervisor").rglob("*")]
        if path.is_dir() and "__pycache__" not in path.parts
    }
    for package, source in SETUPTOOLS["package-dir"].items():
        top = ROOT / source
        expected |= {
            ".".join([package, *path.relative_to(top).parts])
            for path in [top, *top.rglob("*")]
            if path.is_dir()
        }
    assert sorted(SETUPTOOLS["packages"]) == sorted(expected)


def test_the_shipped_top_directories_are_where_the_package_looks() -> None:
    assert SETUPTOOLS["package-dir"] == {
        f"supervisor.{name}": source for name, source in SHIPPED_FROM_TOP.items()
    }
    data = SETUPTOOLS["package-data"]
    assert all(data[f"supervisor.{name}"] == ["**/*"] for name in SHIPPED_FROM_TOP)


def test_every_imported_package_is_a_declared_dependency() -> None:
    """A package the code imports but pyproject does not declare is there in the
    development venv (some other package brought it) and may be missing, or another
    version, wherever the wheel is installed (aiohttp was)."""
    imported: set[str] = set()
    for path in (ROOT / "supervisor").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"supervisor", "__future__"}
    providers = packages_distributions()
    declared = {requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
    missing = {
        module: providers.get(module)
        for module in sorted(third_party)
        if not {normalized(d) for d in providers.get(module, [module])} & declared
    }
    assert not missing, f"imported but not in [project] dependencies: {missing}"


def test_dependencies_are_pinned() -> None:
    loose = [r for r in PYPROJECT["project"]["dependencies"] if "==" not in r]
    assert not loose, loose


def test_in_a_checkout_the_package_reads_the_checkout() -> None:
    """Running from the sources, the wall and the default rules are the files people edit
    (live reload of rules/ included), the data dir is the git-ignored data/."""
    assert CHECKOUT == ROOT
    settings = Settings.from_env({})
    assert settings.rules_dir == ROOT / "rules"
    assert settings.notify_routing == ROOT / "rules" / "notify" / "routing.yaml"
    assert settings.data_dir == ROOT / "data"
    assert WALL_DIR == ROOT / "dashboards" / "wall"
    assert (WALL_DIR / "index.html").is_file()
    assert package_path("_rules", "calendar", "regions.yaml") == (
        ROOT / "rules" / "calendar" / "regions.yaml"
    )
    assert CENTERS_FILE == ROOT / "supervisor" / "data" / "hechi_centers.yaml"
    assert CATALOGUE_DIR == ROOT / "supervisor" / "data" / "catalogue"
    assert TEMPLATES_PATH == ROOT / "supervisor" / "data" / "item_templates.yaml"
    assert package_path("schema", "case-event.schema.json").is_file()


def test_the_version_is_pyproject_s() -> None:
    assert supervisor.__version__ == PYPROJECT["project"]["version"]


@pytest.mark.integration
@pytest.mark.timeout(330)
def test_the_wheel_installs_and_runs_outside_the_checkout() -> None:
    """scripts/package-check: build, twine check, contents, a clean venv, replay against
    the checkout's, the demo; its log is kept in test-output/package-check.log."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "package-check")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    log = ROOT / "test-output" / "package-check.log"
    log.parent.mkdir(exist_ok=True)
    log.write_text(done.stdout + done.stderr, encoding="utf-8")
    print(done.stderr)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
