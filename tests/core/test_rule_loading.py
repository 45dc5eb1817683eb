"""A refused rule file names the line of the file's own YAML tree, also where a merge key
(`<<`) brings in keys from an anchor: the tree is composed afresh for the error, after
safe_load built the document (and flattened its own tree's merge keys)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from supervisor.core.rules import RuleBook, RuleError, _line

MERGED = """\
rules:
  - &first
    id: fee.overcharge
    severity: red
    title: 多收费
    message: "{case_id}"
    basis: 本中心规定
    params: {}
  - <<: *first
    id: supplement.late
"""

NOT_A_LIST = """\
rules:
  id: fee.overcharge
"""


@pytest.mark.parametrize(
    "text,path,line",
    [
        (MERGED, ["rules", 1, "params", "working_days"], 9),  # the entry, not the anchor
        (NOT_A_LIST, ["rules"], 2),
    ],
)
def test_the_line_of_a_refusal_is_the_files_own(
    tmp_path: Path, text: str, path: list[str | int], line: int
) -> None:
    (tmp_path / "r.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(RuleError) as refused:
        RuleBook.load(tmp_path)
    assert _line(yaml.compose(text), path) == line
    assert str(refused.value).startswith(f"{tmp_path / 'r.yaml'}:{line}: ")
