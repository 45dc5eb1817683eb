"""`supervisor db upgrade`: migrates the configured database, says where it stands, and
refuses a URL it cannot use with a clear message and exit status 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from supervisor.cli import app
from supervisor.store.db import head_revision


def test_upgrade_migrates_once_then_says_it_is_current(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPERVISOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SUPERVISOR_DATABASE_URL", database_url)
    first = CliRunner().invoke(app, ["db", "upgrade"])
    assert first.exit_code == 0, first.output
    assert f"upgraded from nothing to revision {head_revision()}" in first.output
    again = CliRunner().invoke(app, ["db", "upgrade"])
    assert again.exit_code == 0 and f"already at revision {head_revision()}" in again.output


def test_the_default_is_sqlite_in_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPERVISOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SUPERVISOR_DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "supervisor.db").is_file()


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("mysql://user:secret@db/x", "unsupported database 'mysql'"),
        ("postgresql://app:secret@127.0.0.1:1/x", "refused:"),
    ],
)
def test_a_database_it_cannot_use_is_refused_clearly(
    url: str, said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPERVISOR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SUPERVISOR_DATABASE_URL", url)
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 1 and said in result.output
    assert "secret" not in result.output  # a password is never repeated
