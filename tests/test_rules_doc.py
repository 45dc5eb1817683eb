"""rules/README.md is the generated page of the rules actually in force."""

from pathlib import Path

from supervisor.rules_doc import render

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_rules_page_matches_the_rules() -> None:
    committed = (ROOT / "rules" / "README.md").read_text(encoding="utf-8")
    assert committed == render(ROOT / "rules"), "run: supervisor rules doc > rules/README.md"


def test_every_rule_is_listed_with_its_basis() -> None:
    page = render(ROOT / "rules")
    for rule_id in ("deadline.overdue", "supplement.repeated", "fee.overcharge"):
        assert f"`{rule_id}`" in page
    assert "行政许可法》第三十二条" in page
