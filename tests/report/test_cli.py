"""`supervisor report` and `supervisor assess --format xlsx|pdf` over the hand-made month
(month.py) in a SQLite read model: the report's PDF for a county, named as documented;
the workbook read back with openpyxl says what `--format json` says; a binary file is
never printed on a terminal."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from supervisor.cli import app
from supervisor.store.db import Database
from supervisor.store.queries import ReadModel
from tests.report.month import seed
from tests.report.pdftools import text_of


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data directory whose SQLite read model holds the month; the commands use it."""

    async def seeded() -> None:
        database = Database(f"sqlite:///{tmp_path / 'supervisor.db'}")
        await database.upgrade()
        try:
            await seed(ReadModel(database, "Asia/Shanghai"))
        finally:
            await database.dispose()

    asyncio.run(seeded())  # the commands run their own loop: this test has none
    monkeypatch.setenv("SUPERVISOR_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SUPERVISOR_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_supervisor_report_writes_the_countys_pdf(data_dir: Path) -> None:
    runner = CliRunner()
    answer = runner.invoke(app, ["report", "--period", "2026-11", "--scope", "451202"])
    assert answer.exit_code == 0, answer.output
    made = data_dir / "电子监察通报_2026-11_451202.pdf"
    assert made.is_file() and str(made.name) in answer.output
    text = text_of(made.read_bytes())
    assert "金城江区政务服务电子监察通报" in text and "南丹" not in text
    city = runner.invoke(app, ["report", "--period", "2026-11", "--output", "city.pdf"])
    assert city.exit_code == 0, city.output
    assert "南丹县政务服务中心" in text_of((data_dir / "city.pdf").read_bytes())
    for arguments, said in (
        (["--period", "2026-13"], "a month is 01 to 12"),
        (["--period", "2026-11", "--scope", "4512"], "a center's code is 6 or 9 digits"),
    ):
        refused = runner.invoke(app, ["report", *arguments])
        assert refused.exit_code == 1 and said in refused.output, refused.output
    # a well-formed code the registry does not know: reported on (GET /api/report too)
    unknown = runner.invoke(app, ["report", "--period", "2026-11", "--scope", "999999"])
    assert unknown.exit_code == 0, unknown.output
    text = text_of((data_dir / "电子监察通报_2026-11_999999.pdf").read_bytes())
    assert "999999政务服务电子监察通报" in text and "南丹" not in text


def test_assess_as_a_workbook_says_what_json_says(data_dir: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(
        app, ["assess", "--period", "2026-11", "--by", "county", "--format", "json"]
    )
    assert shown.exit_code == 0, shown.output
    units: list[dict[str, Any]] = json.loads(shown.output)["units"]
    asked = ["assess", "--period", "2026-11", "--by", "county", "--format", "xlsx"]
    written = runner.invoke(app, [*asked, "--output", "a.xlsx"])
    assert written.exit_code == 0, written.output
    sheet = load_workbook(data_dir / "a.xlsx", read_only=True).active
    assert sheet is not None
    header, *rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert header == [
        "排名", "县（市、区）", "中心编码", "分组", "得分", "等级", "较上期",
        "按期办结率", "督办单按期回复率", "红牌扣分", "黄牌扣分",
    ]  # fmt: skip

    def points(part: dict[str, Any]) -> Any:
        return -part["deducted"] if part["deducted"] is not None else part["points"]

    expected = [
        [
            u["rank"], u["center_name"], u["center_id"], None, u["score"], u["grade"],
            u["change"], *map(points, u["indicators"]),
        ]
        for u in units
    ]  # fmt: skip
    assert [[None if cell == "" else cell for cell in row] for row in rows] == expected
    assert [row[:5] for row in expected] == [
        [1, "河池市政务服务中心", "451200", None, 100.0],
        [2, "金城江区政务服务中心", "451202", None, 33.3],
        [3, "南丹县政务服务中心", "451221", None, 0.0],
    ]


def test_assess_as_a_pdf_goes_to_stdout_but_never_to_a_terminal(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    piped = runner.invoke(
        app, ["assess", "--period", "2026-11", "--format", "pdf", "--scope", "451202"]
    )
    assert piped.exit_code == 0, piped.stderr
    assert piped.stdout_bytes.startswith(b"%PDF-")
    text = text_of(piped.stdout_bytes)
    assert "金城江区东江镇便民服务中心" in text and "100.0" in text and "南丹" not in text

    class Terminal(io.BytesIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("supervisor.cli.typer.get_binary_stream", lambda name: Terminal())
    refused = runner.invoke(app, ["assess", "--period", "2026-11", "--format", "xlsx"])
    assert refused.exit_code == 1 and "give --output FILE" in refused.output
    wrong = runner.invoke(app, ["assess", "--period", "2026-11", "--output", "x.txt"])
    assert wrong.exit_code == 1 and "only for --format xlsx or pdf" in wrong.output


def test_assess_and_report_never_make_or_migrate_a_read_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """They only read: with no read model where the settings point (an unset or mistyped
    URL), or one at another schema revision, they refuse and say what to do, instead of
    answering from an empty database made on the spot or migrating a production one."""
    monkeypatch.setenv("SUPERVISOR_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SUPERVISOR_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    commands = (["assess", "--period", "2026-11"], ["report", "--period", "2026-11"])
    for command in commands:
        refused = runner.invoke(app, command)
        assert refused.exit_code == 1, refused.output
        assert "refused: no read model at sqlite:///" in refused.output
    assert not (tmp_path / "supervisor.db").exists()

    async def behind() -> None:  # a read model of an older version of the service
        database = Database(f"sqlite:///{tmp_path / 'supervisor.db'}")
        try:
            await database.upgrade()
            async with database.engine.begin() as connection:
                await connection.exec_driver_sql("UPDATE alembic_version SET version_num = 'old1'")
        finally:
            await database.dispose()

    asyncio.run(behind())
    for command in commands:
        refused = runner.invoke(app, command)
        assert refused.exit_code == 1, refused.output
        assert "at schema revision old1" in refused.output
        assert "run `supervisor db upgrade`" in refused.output
    assert not list(tmp_path.glob("*.pdf"))
