"""What an operator can put right ends a command with one `refused:` line, not a
traceback: a bad setting, a broker that does not answer, a file that is not there.
And every command's summary in `supervisor --help` is one sentence of its own."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from supervisor import cli


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """`supervisor ARGS` in this process, as the console script runs it."""
    monkeypatch.setattr(sys, "argv", ["supervisor", *args])
    with pytest.raises(SystemExit) as stop:
        cli.main()
    out, err = capsys.readouterr()
    code = stop.value.code
    return (code if isinstance(code, int) else 1), out, err


@pytest.fixture(autouse=True)
def _quiet_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SUPERVISOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SUPERVISOR_TOKENS_FILE", str(tmp_path / "data" / "tokens.json"))


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("SUPERVISOR_PARTITIONS", "six", "SUPERVISOR_PARTITIONS='six' is not a valid int"),
        ("SUPERVISOR_TIMEZONE", "Mars/Olympus", "SUPERVISOR_TIMEZONE='Mars/Olympus' is not a"),
        ("SUPERVISOR_API_DOCS", "maybe", "SUPERVISOR_API_DOCS='maybe' is not a valid bool"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    said: str,
) -> None:
    monkeypatch.setenv(variable, value)
    code, _, err = run_main(monkeypatch, capsys, "token", "list")
    assert code == 1
    assert err.startswith(f"refused: {said}") and err.count("\n") == 1
    assert "Traceback" not in err


def test_a_broker_that_does_not_answer_is_named_with_the_setting_to_change(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")  # nothing listens there
    code, _, err = run_main(monkeypatch, capsys, "dlq", "list")
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last == "refused: cannot reach Kafka at 127.0.0.1:9 (set KAFKA_BOOTSTRAP_SERVERS)"
    assert "Traceback" not in err and "Unclosed" not in err


@pytest.mark.parametrize(
    "args",
    [("dlq", "resend", "/nonexistent/fixed.jsonl"), ("rules", "doc", "/nonexistent/rules")],
)
def test_a_missing_file_or_directory_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    code, out, err = run_main(monkeypatch, capsys, *args)
    assert code == 1 and out == ""
    assert err.startswith("refused: ") and "/nonexistent/" in err and err.count("\n") == 1


def test_resend_reads_standard_input_for_a_container_exec(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Only invalid lines: each refused with its number, nothing sent (no broker needed).
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"type": "submitted"}\nnot json\n'))
    code, _, err = run_main(monkeypatch, capsys, "dlq", "resend", "-")
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[0].startswith("-:1: ") and lines[1].startswith("-:2: not JSON")
    assert lines[-1].endswith("0 events sent to case-events; 2 refused")


def commands(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every command and group under `group` (click's, as typer builds them)."""
    found: list[tuple[str, Any]] = []
    for name, command in sorted(group.commands.items()):
        found.append((f"{prefix}{name}", command))
        if hasattr(command, "commands"):
            found += commands(command, f"{prefix}{name} ")
    return found


def test_every_command_summary_is_one_sentence_on_one_line() -> None:
    """The command lists print a command's first paragraph as it is written: a hard line
    break there shows as a break in the middle of a sentence."""
    cli._mount_kafka()
    listed = commands(typer.main.get_command(cli.app))
    assert {"replay", "kafka start", "dlq resend"} <= {name for name, _ in listed}
    for name, command in listed:
        summary = (command.help or "").strip().split("\n\n", 1)[0]
        assert summary, f"supervisor {name} has no help"
        assert "\n" not in summary, f"supervisor {name}: {summary!r}"
        assert len(summary) <= 100, f"supervisor {name}: summary of {len(summary)} characters"
